// Command hello is the smallest useful Go Lambda function: the baseline the
// emulator tests compare our bootstraps' size and durations with. It is built
// with exactly the flags of our functions (make build-host).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

type response struct {
	Message string `json:"message"`
}

func main() {
	lambda.Start(func(context.Context, map[string]any) (response, error) {
		return response{Message: "hello"}, nil
	})
}
