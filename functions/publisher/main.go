// Command publisher is the Lambda function behind the keys table's change
// stream: it publishes a lifecycle event to EventBridge for every change the
// store recorded (package lifecycle), reporting the records it could not
// publish as batch item failures.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/eventbus"
	"github.com/kudurrustone/apikeys/functions/internal/lifecycle"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

func main() {
	st, err1 := settings.ReadStore(os.Getenv)
	ev, err2 := settings.ReadEvents(os.Getenv)
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
	}
	log := settings.NewLogger(os.Stdout, st.LogLevel)
	// Only DynamoDB (the key of each event) and EventBridge: no pepper, no
	// service.
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fail(err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if st.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(st.DynamoDBEndpoint)
		}
	})
	eb := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) {
		if ev.Endpoint != "" {
			o.BaseEndpoint = aws.String(ev.Endpoint)
		}
	})
	h := &lifecycle.StreamHandler{
		Decode: ddbstore.DecodeChange,
		Keys:   ddbstore.New(db, st.TableName),
		Sink:   &eventbus.Sink{API: eb, Bus: ev.Bus},
		Logger: log,
	}
	lambda.Start(h.Handle)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "publisher:", err)
	os.Exit(1)
}
