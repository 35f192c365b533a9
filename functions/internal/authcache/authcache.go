// Package authcache resets API Gateway's Lambda authorizer cache after a
// revoke. It is its own package so that only the revoke function links the
// API Gateway client (the authorizer's cold start does not pay for it).
package authcache

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewayv2"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// ResetAuthorizersCacheAPI is the part of the API Gateway v2 client the
// resetter uses; *apigatewayv2.Client satisfies it.
type ResetAuthorizersCacheAPI interface {
	ResetAuthorizersCache(ctx context.Context, in *apigatewayv2.ResetAuthorizersCacheInput, optFns ...func(*apigatewayv2.Options)) (*apigatewayv2.ResetAuthorizersCacheOutput, error)
}

var _ ResetAuthorizersCacheAPI = (*apigatewayv2.Client)(nil)

// ResetTimeout bounds one cache reset: the revoke response waits for it.
const ResetTimeout = 2 * time.Second

// Resetter resets the Lambda authorizer cache of an HTTP API stage
// after a revoke, so API Gateway stops serving a cached allow for the
// revoked key at once. It is best effort: a failure is logged and the
// authorizer cache TTL stays the bound on the revocation delay.
type Resetter struct {
	client   ResetAuthorizersCacheAPI
	apiID    string
	stage    string
	disabled bool
	log      *slog.Logger
}

// New returns the resetter of a revoke function. The stage is
// cfg.APIID/cfg.StageName when set; otherwise the one the request came
// through (its gateway context). Under `sam local` there is no real API, so
// it does nothing.
func New(awsCfg aws.Config, cfg settings.CacheReset, samLocal bool, log *slog.Logger) *Resetter {
	client := apigatewayv2.NewFromConfig(awsCfg, func(o *apigatewayv2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.RetryMaxAttempts = 2
	})
	return NewWith(client, cfg, samLocal, log)
}

// NewWith is New over any client (tests).
func NewWith(client ResetAuthorizersCacheAPI, cfg settings.CacheReset, samLocal bool, log *slog.Logger) *Resetter {
	return &Resetter{client: client, apiID: cfg.APIID, stage: cfg.StageName, disabled: samLocal, log: log}
}

// Reset resets the authorizer cache; it has the signature of
// httpapi.WithCacheReset.
func (c *Resetter) Reset(ctx context.Context, k keyservice.Key) {
	if c.disabled {
		c.log.DebugContext(ctx, "authorizer cache reset skipped under sam local", "keyId", k.ID)
		return
	}
	apiID, stage := c.apiID, c.stage
	if apiID == "" {
		rc, ok := core.GetAPIGatewayV2ContextFromContext(ctx)
		if !ok || rc.APIID == "" || rc.Stage == "" {
			c.log.WarnContext(ctx, "authorizer cache not reset: no API id and stage in the request context",
				"keyId", k.ID, "firmId", k.FirmID)
			return
		}
		apiID, stage = rc.APIID, rc.Stage
	}
	ctx2, cancel := context.WithTimeout(context.WithoutCancel(ctx), ResetTimeout)
	defer cancel()
	start := time.Now()
	_, err := c.client.ResetAuthorizersCache(ctx2, &apigatewayv2.ResetAuthorizersCacheInput{
		ApiId: aws.String(apiID), StageName: aws.String(stage),
	})
	if err != nil {
		c.log.ErrorContext(ctx, "authorizer cache reset failed; the revoked key may be allowed until the cache TTL ends",
			"keyId", k.ID, "firmId", k.FirmID, "apiId", apiID, "stage", stage, "error", err)
		return
	}
	c.log.InfoContext(ctx, "authorizer cache reset", "keyId", k.ID, "firmId", k.FirmID,
		"apiId", apiID, "stage", stage, "ms", time.Since(start).Milliseconds())
}
