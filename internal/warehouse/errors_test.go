package warehouse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	c := &Client{opts: Options{Host: "dbc.example"}, secrets: redactor{"dapi-s3cret"}}
	tests := []struct {
		err  error
		want Class
	}{
		{errors.New("invalid access token: request error after 1 attempt(s): unexpected HTTP status 401 Unauthorized"), AuthRefused},
		{errors.New("request error after 1 attempt(s): unexpected HTTP status 403 Forbidden"), AuthRefused},
		{&tokenError{msg: "token exchange: http 401 invalid_client"}, AuthRefused},
		{fmt.Errorf("post: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), Unreachable},
		{errors.New("dial tcp 10.0.0.1:4010: connect: connection refused"), Unreachable},
		{errors.New("dial tcp: lookup dbc.example: no such host"), Unreachable},
		{fmt.Errorf("query: %w", context.DeadlineExceeded), Timeout},
		{errors.New("something odd with token dapi-s3cret"), Query},
	}
	for _, tt := range tests {
		err := c.classify(context.Background(), "op", tt.err)
		var we *Error
		if !errors.As(err, &we) || we.Class != tt.want {
			t.Errorf("classify(%q) = %v, want class %s", tt.err, err, tt.want)
			continue
		}
		if we.Host != "dbc.example" || strings.Contains(err.Error(), "dapi-s3cret") || strings.Contains(errors.Unwrap(err).Error(), "dapi-s3cret") {
			t.Errorf("classify(%q) = %q: host missing or secret kept", tt.err, err)
		}
	}
	if !errors.Is(c.classify(context.Background(), "op", fmt.Errorf("x: %w", context.DeadlineExceeded)), context.DeadlineExceeded) {
		t.Error("cause chain lost")
	}
}
