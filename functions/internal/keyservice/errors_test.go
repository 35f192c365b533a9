package keyservice_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

func TestErrors(t *testing.T) {
	cause := errors.New("dynamodb: throttled")
	internal := keyservice.Internal(cause)
	if internal.Code != keyservice.CodeInternal || strings.Contains(internal.Message, "throttled") {
		t.Fatalf("Internal = %+v: the message must be generic", internal)
	}
	if !errors.Is(internal, cause) || !strings.Contains(internal.Error(), "throttled") {
		t.Fatalf("Internal does not keep its cause for the log")
	}
	coded := keyservice.Errorf(keyservice.CodeKeyLimitReached, "at most %d", 5)
	if coded.Message != "at most 5" || coded.Error() != "key_limit_reached: at most 5" || coded.Unwrap() != nil {
		t.Fatalf("Errorf = %+v, %q", coded, coded.Error())
	}
	for _, c := range []struct {
		err  error
		want keyservice.Code
	}{
		{coded, keyservice.CodeKeyLimitReached},
		{fmt.Errorf("wrapped: %w", coded), keyservice.CodeKeyLimitReached},
		{internal, keyservice.CodeInternal},
		{cause, keyservice.CodeInternal},
	} {
		if got := keyservice.CodeOf(c.err); got != c.want {
			t.Errorf("CodeOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
