// Command rotation rotates the pepper secret when Secrets Manager calls it
// (createSecret, setSecret, testSecret, finishSecret) and gives a new, empty
// pepper secret its first version as the stack's custom resource (package
// rotation).
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kudurrustone/apikeys/functions/internal/awsenv"
	"github.com/kudurrustone/apikeys/functions/internal/pepper"
	"github.com/kudurrustone/apikeys/functions/internal/rotation"
	"github.com/kudurrustone/apikeys/functions/internal/settings"
)

func main() {
	level, err1 := settings.LogLevel(os.Getenv(settings.EnvLogLevel))
	// The pepper settings of generate and the authorizer (the same
	// template Globals): they bound how stale a process's copy may be, and
	// so how far ahead a new version is scheduled.
	pep, err2 := settings.ReadPepper(os.Getenv)
	if err := errors.Join(err1, err2); err != nil {
		fail(err)
	}
	awsCfg, err := awsenv.Config(os.Getenv)
	if err != nil {
		fail(err)
	}
	r, err := rotation.New(pepper.NewClient(awsCfg, pep.Endpoint), rotation.Config{
		MaxStaleness: pepper.SecretsManagerConfig{Refresh: pep.Refresh, Grace: pep.Grace}.MaxStaleness(),
		Logger:       settings.NewLogger(os.Stdout, level),
	})
	if err != nil {
		fail(err)
	}
	lambda.Start(r.Handle)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rotation:", err)
	os.Exit(1)
}
