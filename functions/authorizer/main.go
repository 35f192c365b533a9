// Command authorizer is the Lambda authorizer for API keys (package
// authorizer): it answers HTTP API payload 2.0 and REST API TOKEN and
// REQUEST events with IAM policies (AUTHORIZER_RESPONSE=simple: HTTP API
// simple responses).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
	"github.com/kudurrustone/apikeys/functions/internal/wiring"
)

func main() {
	st, err1 := settings.ReadStore(os.Getenv)
	pep, err2 := settings.ReadPepper(os.Getenv)
	response, err3 := settings.AuthorizerResponse(os.Getenv(settings.EnvAuthorizerResponse))
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(1)
	}
	log := settings.NewLogger(os.Stdout, st.LogLevel)
	deps, err := wiring.New(context.Background(), st, wiring.Options{Peppers: pepper.FromSettings(pep, log), WarmUp: true}, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(1)
	}
	var opts []authorizer.Option
	if response == settings.AuthorizerSimple {
		opts = append(opts, authorizer.WithSimpleResponses())
	}
	lambda.Start(authorizer.New(deps.Service, log, opts...))
}
