// Command generate is the Lambda function serving POST /v1/api-keys: the
// shared net/http handler, wrapped for HTTP API payload 2.0 events.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/samlocal"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
	"github.com/kudurrustone/apikeys/functions/internal/wiring"
)

func main() {
	st, err1 := settings.ReadStore(os.Getenv)
	pep, err2 := settings.ReadPepper(os.Getenv)
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
	}
	log := settings.NewLogger(os.Stdout, st.LogLevel)
	local, err := samlocal.FromEnv(os.Getenv, log)
	if err != nil {
		fail(err)
	}
	deps, err := wiring.New(context.Background(), st, wiring.Options{Peppers: pepper.FromSettings(pep, log)}, log)
	if err != nil {
		fail(err)
	}
	api := httpapi.New(deps.Service, identity.ConfigFromEnv(os.Getenv), log)
	lambda.Start(local.Wrap(httpapi.Proxy(api.Generate(), log)))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "generate:", err)
	os.Exit(1)
}
