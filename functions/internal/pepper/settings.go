package pepper

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kudurrustone/apikeys/functions/internal/keyservice"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

// FromSettings returns what builds a function's pepper source from its AWS
// configuration: the Secrets Manager source for p, or under sam local with
// LOCAL_PEPPER, a static set (logged as a warning). The result is a
// *SecretsManager or a StaticSource; errors are a malformed LOCAL_PEPPER or
// an invalid SecretsManagerConfig.
func FromSettings(p settings.Pepper, log *slog.Logger) func(aws.Config) (keyservice.PepperSource, error) {
	return func(cfg aws.Config) (keyservice.PepperSource, error) {
		if p.Local != "" {
			set, err := Parse(p.Local)
			if err != nil {
				return nil, fmt.Errorf("pepper: %s: %w", settings.EnvLocalPepper, err)
			}
			log.Warn("using " + settings.EnvLocalPepper + ": sam local only")
			return Static(set), nil
		}
		return NewSecretsManager(NewClient(cfg, p.Endpoint), SecretsManagerConfig{
			SecretID: p.SecretID, Refresh: p.Refresh, Grace: p.Grace, Logger: log,
		})
	}
}
