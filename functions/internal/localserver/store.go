package localserver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kudurrustone/apikeys/functions/internal/boltstore"
	"github.com/kudurrustone/apikeys/functions/internal/ddbstore"
	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
)

// openStore opens the embedded store under the data folder, or the DynamoDB
// table when an endpoint is configured. It returns the store, how to close
// it and a description for the banner.
func openStore(ctx context.Context, cfg Config) (keyservice.Store, func() error, string, error) {
	if cfg.DynamoDBEndpoint == "" {
		path := filepath.Join(cfg.DataDir, StoreFile)
		s, err := boltstore.Open(path)
		if err != nil {
			return nil, nil, "", fmt.Errorf("localserver: %w (is another local server running on this data folder?)", err)
		}
		return s, s.Close, path + " (embedded bbolt)", nil
	}
	client, err := dynamoClient(ctx, cfg)
	if err != nil {
		return nil, nil, "", err
	}
	if err := ensureTable(ctx, client, cfg.Table); err != nil {
		return nil, nil, "", err
	}
	desc := fmt.Sprintf("DynamoDB table %s at %s", cfg.Table, cfg.DynamoDBEndpoint)
	return ddbstore.New(client, cfg.Table), func() error { return nil }, desc, nil
}

// dynamoClient builds a client for the endpoint. DynamoDB Local accepts any
// credentials, so when the environment has none, dummy ones are used rather
// than failing or reaching for a real account's.
func dynamoClient(ctx context.Context, cfg Config) (*dynamodb.Client, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(cfg.Region)}
	if cfg.Getenv("AWS_ACCESS_KEY_ID") == "" && cfg.Getenv("AWS_PROFILE") == "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("localserver: AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(cfg.DynamoDBEndpoint)
	}), nil
}

// ensureTable creates the table if it does not exist, with the key schema
// of template.yaml's KeysTable (ddbstore.KeySchema, which a contract test
// compares with the template), and waits until it is active.
func ensureTable(ctx context.Context, client *dynamodb.Client, table string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &notFound):
		return fmt.Errorf("localserver: DynamoDB at this endpoint is not reachable or refused DescribeTable %s: %w", table, err)
	}
	keys, attrs := ddbstore.KeySchema()
	_, err = client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:              aws.String(table),
		BillingMode:            types.BillingModePayPerRequest,
		KeySchema:              keys,
		AttributeDefinitions:   attrs,
		GlobalSecondaryIndexes: ddbstore.Indexes(),
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) { // in use: created concurrently
		return fmt.Errorf("localserver: create table %s: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 30*time.Second); err != nil {
		return fmt.Errorf("localserver: table %s not active: %w", table, err)
	}
	return nil
}
