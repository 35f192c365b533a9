// Command getitem is the floor of a warm authorization at the Lambda level:
// hello-world plus one bare SDK GetItem (strongly consistent) of the item
// the event names, with the same client setup as our functions (package
// awsenv, DYNAMODB_ENDPOINT). make bench runs it under the emulator beside
// the authorizer, so the GetItem pays the same idle-process and connection
// costs the authorizer's does.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
)

type request struct {
	PK string `json:"pk"`
	SK string `json:"sk"`
}

type response struct {
	Found bool `json:"found"`
}

func main() {
	cfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "getitem:", err)
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	table := os.Getenv("TABLE_NAME")
	lambda.Start(func(ctx context.Context, req request) (response, error) {
		if req.PK == "" {
			return response{}, errors.New("getitem: no pk")
		}
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: req.PK},
				"SK": &types.AttributeValueMemberS{Value: req.SK},
			},
		})
		if err != nil {
			return response{}, err
		}
		return response{Found: len(out.Item) > 0}, nil
	})
}
