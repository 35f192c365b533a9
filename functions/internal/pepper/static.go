package pepper

import (
	"context"

	"github.com/kudurrustone/apikeys/functions/internal/apikey"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// StaticSource serves a fixed pepper set.
type StaticSource struct {
	set apikey.PepperSet
}

var _ keyservice.PepperSource = StaticSource{}

// Static returns a source that always serves set (tests, the local server).
func Static(set apikey.PepperSet) StaticSource { return StaticSource{set: set} }

// Peppers returns the set; an empty set is ErrUnavailable.
func (s StaticSource) Peppers(context.Context) (apikey.PepperSet, error) {
	if s.set.Empty() {
		return apikey.PepperSet{}, ErrUnavailable
	}
	return s.set, nil
}
