// Command authorizer is the Lambda authorizer for API keys. It answers HTTP
// API payload 2.0 events with simple responses and REST API TOKEN and
// REQUEST events with IAM policies (package authorizer).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/authorizer"
	"github.com/kudurrustone/apikeys/functions/internal/config"
)

func main() {
	deps, err := config.Setup(context.Background(), os.Getenv, os.Stdout, config.StoreAndPepper)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authorizer:", err)
		os.Exit(1)
	}
	lambda.Start(authorizer.New(deps.Service, deps.Log))
}
