// Command generate is the Lambda function serving POST /v1/api-keys: the shared
// net/http handler, wrapped for HTTP API payload 2.0 events.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/kudurrustone/apikeys/functions/internal/config"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
)

func main() {
	deps, err := config.Setup(context.Background(), os.Getenv, os.Stdout, config.StoreAndPepper)
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
	api := httpapi.New(deps.Service, deps.Config.Identity, deps.Log)
	lambda.Start(deps.LocalAdmin.Wrap(httpadapter.NewV2(api.Handler(httpapi.FunctionGenerate)).ProxyWithContext))
}
