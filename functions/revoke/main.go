// Command revoke is the Lambda function serving POST
// /v1/api-keys/{id}/revoke: the shared net/http handler, wrapped for HTTP API
// payload 2.0 events. After a revoke it resets the API's authorizer cache so
// the key is denied at once.
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
	lambda.Start(local.Wrap(httpapi.Proxy(api.Revoke(), log)))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "revoke:", err)
	os.Exit(1)
}
