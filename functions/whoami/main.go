// Command whoami is the Lambda function serving GET /v1/whoami behind the
// Lambda authorizer. It answers from the authorizer's context alone, so it
// needs no store, no pepper and no AWS permission.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/kudurrustone/apikeys/functions/internal/config"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
	"github.com/kudurrustone/apikeys/functions/internal/identity"
)

func main() {
	level, err := config.LogLevelFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "whoami: config:", err)
		os.Exit(1)
	}
	log := config.NewLogger(os.Stdout, level)
	api := httpapi.New(nil, identity.ConfigFromEnv(os.Getenv), log)
	lambda.Start(httpadapter.NewV2(api.Handler(httpapi.FunctionWhoami)).ProxyWithContext)
}
