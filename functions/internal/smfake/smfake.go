// Package smfake is an in-process fake of the AWS Secrets Manager wire
// protocol (AWS JSON 1.1), enough of GetSecretValue for the real
// aws-sdk-go-v2 client to talk to it. Tests point the client's BaseEndpoint
// (or the functions' SECRETSMANAGER_ENDPOINT) at URL().
package smfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fake account and region used in ARNs.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

const target = "secretsmanager.GetSecretValue"

// Server is a fake Secrets Manager endpoint. It is safe for concurrent use.
type Server struct {
	srv   *httptest.Server
	calls atomic.Int64

	mu          sync.Mutex
	secrets     map[string]*secret // by name
	failStatus  int
	failType    string
	failMsg     string
	unavailable bool
	latency     time.Duration
	lastAuth    string
	nextVersion int
}

type secret struct {
	name     string
	arn      string
	versions []version // newest last; the last one is AWSCURRENT
	deleted  bool      // scheduled for deletion: in its recovery window
}

type version struct {
	id      string
	value   string
	created time.Time
}

// New starts a fake on a loopback port and stops it when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{secrets: map[string]*secret{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the endpoint to use as the client's BaseEndpoint.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server; later requests fail to connect.
func (s *Server) Close() { s.srv.Close() }

// ARN returns the fake ARN of the named secret (whether or not it exists).
func (s *Server) ARN(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s-AbCdEf", Region, Account, name)
}

// SetSecret creates the secret or puts a new version of it, which becomes
// AWSCURRENT (the previous one becomes AWSPREVIOUS). It returns the VersionId.
func (s *Server) SetSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		sec = &secret{name: name, arn: s.ARN(name)}
		s.secrets[name] = sec
	}
	s.nextVersion++
	id := fmt.Sprintf("00000000-0000-4000-8000-%012d", s.nextVersion)
	sec.versions = append(sec.versions, version{id: id, value: value, created: time.Now().UTC()})
	return id
}

// DeleteSecret schedules the secret for deletion, as DeleteSecret with a
// recovery window does in AWS: GetSecretValue then answers
// InvalidRequestException until RestoreSecret.
func (s *Server) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		sec.deleted = true
	}
}

// RestoreSecret cancels a scheduled deletion.
func (s *Server) RestoreSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		sec.deleted = false
	}
}

// ForceDeleteSecret removes the secret at once, as DeleteSecret with
// ForceDeleteWithoutRecovery (or the end of the recovery window) does:
// GetSecretValue then answers ResourceNotFoundException.
func (s *Server) ForceDeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, name)
}

// FailWith makes every request fail with the given HTTP status and AWS error
// type (e.g. 400 "AccessDeniedException", 500 "InternalServiceError") until
// Recover is called.
func (s *Server) FailWith(status int, errType, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus, s.failType, s.failMsg = status, errType, message
}

// SetUnavailable makes the server drop every connection without answering,
// as an unreachable endpoint would, until Recover is called.
func (s *Server) SetUnavailable(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unavailable = on
}

// Recover clears FailWith and SetUnavailable.
func (s *Server) Recover() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failStatus, s.failType, s.failMsg, s.unavailable = 0, "", "", false
}

// SetLatency delays every answer by d, so concurrent callers overlap.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Calls is the number of GetSecretValue requests received, failed or not.
func (s *Server) Calls() int { return int(s.calls.Load()) }

// LastAuthorization is the Authorization header of the last request, to
// check the client signed it (SigV4).
func (s *Server) LastAuthorization() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastAuth
}

type getSecretValueInput struct {
	SecretId     string `json:"SecretId"`
	VersionId    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

type getSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	SecretString  string   `json:"SecretString"`
	VersionId     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
	CreatedDate   float64  `json:"CreatedDate"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, http.StatusNotFound, "UnknownOperationException", "only POST / is served")
		return
	}
	if got := r.Header.Get("X-Amz-Target"); got != target {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "unsupported X-Amz-Target "+got)
		return
	}
	s.calls.Add(1)

	s.mu.Lock()
	s.lastAuth = r.Header.Get("Authorization")
	latency, unavailable := s.latency, s.unavailable
	failStatus, failType, failMsg := s.failStatus, s.failType, s.failMsg
	s.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if unavailable {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		// Not reachable over HTTP/1.1; answer as an overloaded service would.
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "unavailable")
		return
	}
	if failStatus != 0 {
		writeError(w, failStatus, failType, failMsg)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not signed")
		return
	}
	var in getSecretValueInput
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId == "" {
		writeError(w, http.StatusBadRequest, "InvalidParameterException", "SecretId is required")
		return
	}
	out, found, deleted := s.lookup(in)
	switch {
	case deleted:
		writeError(w, http.StatusBadRequest, "InvalidRequestException",
			"You can't perform this operation on the secret because it was marked for deletion.")
		return
	case !found:
		writeError(w, http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) lookup(in getSecretValueInput) (out getSecretValueOutput, found, deleted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sec *secret
	for _, c := range s.secrets {
		if c.name == in.SecretId || c.arn == in.SecretId {
			sec = c
			break
		}
	}
	if sec == nil || len(sec.versions) == 0 {
		return getSecretValueOutput{}, false, false
	}
	if sec.deleted {
		return getSecretValueOutput{}, true, true
	}
	last := len(sec.versions) - 1
	idx := last
	switch {
	case in.VersionId != "":
		idx = -1
		for i, v := range sec.versions {
			if v.id == in.VersionId {
				idx = i
			}
		}
	case in.VersionStage == "" || in.VersionStage == "AWSCURRENT":
	case in.VersionStage == "AWSPREVIOUS":
		idx = last - 1
	default:
		idx = -1
	}
	if idx < 0 {
		return getSecretValueOutput{}, false, false
	}
	v := sec.versions[idx]
	var stages []string
	switch idx {
	case last:
		stages = []string{"AWSCURRENT"}
	case last - 1:
		stages = []string{"AWSPREVIOUS"}
	}
	return getSecretValueOutput{
		ARN: sec.arn, Name: sec.name, SecretString: v.value, VersionId: v.id,
		VersionStages: stages, CreatedDate: float64(v.created.UnixMilli()) / 1000,
	}, true, false
}

func writeError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", errType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errType, "message": message})
}
