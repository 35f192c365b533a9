// Command expiry is the hourly Lambda function (EventBridge Scheduler) that
// claims an expiry warning for each key whose expiry comes within
// EXPIRY_WARNING_DAYS (package expiry); the publisher turns each claimed
// warning into an "API Key Expiring" event from the table's stream.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/expiry"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

func main() {
	st, err1 := settings.ReadStore(os.Getenv)
	days, err2 := settings.ExpiryWarningDays(os.Getenv(settings.EnvExpiryWarningDays))
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
	}
	log := settings.NewLogger(os.Stdout, st.LogLevel)
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fail(err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if st.DynamoDBEndpoint != "" {
			o.BaseEndpoint = aws.String(st.DynamoDBEndpoint)
		}
	})
	c := &expiry.Checker{Store: ddbstore.New(db, st.TableName), Window: time.Duration(days) * 24 * time.Hour, Logger: log}
	// The schedule's input (its scheduled time) is only logged: the check
	// looks at the keys from now, so a late or repeated run is harmless.
	lambda.Start(func(ctx context.Context, in json.RawMessage) (expiry.Result, error) {
		res, err := c.Run(ctx)
		log.InfoContext(ctx, "expiry check", "due", res.Due, "warned", res.Warned, "schedule", in)
		return res, err
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "expiry:", err)
	os.Exit(1)
}
