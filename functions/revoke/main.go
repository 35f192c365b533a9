// Command revoke is the Lambda function serving POST
// /v1/api-keys/{id}/revoke: the shared net/http handler, wrapped for HTTP API
// payload 2.0 events. After a revoke it resets the API's authorizer cache so
// the key is denied at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/kudurrustone/apikeys/functions/internal/authcache"
	"github.com/kudurrustone/apikeys/functions/internal/config"
	"github.com/kudurrustone/apikeys/functions/internal/httpapi"
)

func main() {
	deps, err := config.Setup(context.Background(), os.Getenv, os.Stdout, config.StoreOnly)
	if err != nil {
		fmt.Fprintln(os.Stderr, "revoke:", err)
		os.Exit(1)
	}
	reset := authcache.New(deps)
	api := httpapi.New(deps.Service, deps.Config.Identity, deps.Log, httpapi.WithRevokeHook(reset.Reset))
	lambda.Start(deps.LocalAdmin.Wrap(httpadapter.NewV2(api.Handler(httpapi.FunctionRevoke)).ProxyWithContext))
}
