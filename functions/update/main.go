// Command update is the Lambda function serving PATCH /v1/api-keys/{id}:
// the shared net/http handler, wrapped for HTTP API payload 2.0 events.
// After a change to a key's expiry, scopes or allowed addresses it resets
// the API's authorizer cache, so a narrowing takes effect at once.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/authcache"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/samlocal"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
	"github.com/kudurrustone/apikeys/functions/internal/wiring"
)

func main() {
	st, err1 := settings.ReadStore(os.Getenv)
	reset, err2 := settings.ReadCacheReset(os.Getenv)
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
	}
	log := settings.NewLogger(os.Stdout, st.LogLevel)
	local, err := samlocal.FromEnv(os.Getenv, log)
	if err != nil {
		fail(err)
	}
	deps, err := wiring.New(context.Background(), st, wiring.Options{}, log)
	if err != nil {
		fail(err)
	}
	resetter := authcache.New(deps.AWS, reset, st.SAMLocal, log)
	api := httpapi.New(deps.Service, identity.ConfigFromEnv(os.Getenv), log, httpapi.WithCacheReset(resetter.Reset))
	lambda.Start(local.Wrap(httpapi.Proxy(api.Update(), log)))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "update:", err)
	os.Exit(1)
}
