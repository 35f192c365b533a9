// Command whoami is the Lambda function serving /v1/whoami behind the
// Lambda authorizer. It answers from the authorizer's context alone, so it
// needs no store, no pepper and no AWS permission, and links none of them.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

func main() {
	level, err := settings.LogLevel(os.Getenv(settings.EnvLogLevel))
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami:", err)
		os.Exit(1)
	}
	log := settings.NewLogger(os.Stdout, level)
	api := httpapi.New(nil, identity.ConfigFromEnv(os.Getenv), log)
	lambda.Start(httpapi.Proxy(api.Whoami(), log))
}
