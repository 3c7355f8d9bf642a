package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/thanos-io/objstore/providers/s3"
)

// newS3 builds an S3 bucket from the provider's own YAML config.
//
// Create needs "If-None-Match: *" on PutObject, which the thanos provider
// cannot send: its Upload takes no conditional options and its minio client
// is private. So Create calls the provider's Upload with a marked context, and
// a transport wrapper adds the header to that request only. The header is
// added after minio-go signed the request; S3 (and MinIO) require only host
// and x-amz-* headers to be signed, so an unsigned If-None-Match is accepted.
func newS3(logger kitLogger, config []byte) (Bucket, error) {
	tb, err := s3.NewBucket(logger, config, "weft", wrapConditional)
	if err != nil {
		return nil, err
	}
	return &bucket{tb: tb, w: &s3Writer{tb: tb}}, nil
}

type createKey struct{}

type conditionalTransport struct{ next http.RoundTripper }

func wrapConditional(next http.RoundTripper) http.RoundTripper {
	return conditionalTransport{next: next}
}

func (t conditionalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Value(createKey{}) != nil && isObjectCommit(req) {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", "*")
	}
	if req.ContentLength <= 0 && req.Body != nil && req.Body != http.NoBody &&
		req.Header.Get("X-Amz-Decoded-Content-Length") == "0" {
		// minio-go v7.0.93 signs an empty object over plain HTTP as a
		// stream holding one final chunk but declares Content-Length 0, so
		// net/http falls back to chunked transfer encoding, which S3 refuses
		// (MissingContentLength). The stream is that one small chunk: buffer
		// it and send its real length.
		body, err := io.ReadAll(io.LimitReader(req.Body, 64<<10))
		if cerr := req.Body.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.TransferEncoding = nil
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return t.next.RoundTrip(req)
}

// isObjectCommit reports the request that makes an object visible: a single
// PutObject, or CompleteMultipartUpload (parts are never conditional).
func isObjectCommit(req *http.Request) bool {
	q := req.URL.Query()
	switch req.Method {
	case http.MethodPut:
		return !q.Has("partNumber") && !q.Has("uploadId")
	case http.MethodPost:
		return q.Has("uploadId")
	}
	return false
}

type s3Writer struct{ tb *s3.Bucket }

func (w *s3Writer) upload(ctx context.Context, name string, data []byte) error {
	return w.tb.Upload(ctx, name, bytes.NewReader(data))
}

func (w *s3Writer) create(ctx context.Context, name string, data []byte) error {
	err := w.tb.Upload(context.WithValue(ctx, createKey{}, true), name, bytes.NewReader(data))
	var er minio.ErrorResponse
	if err != nil && errors.As(err, &er) {
		switch {
		case er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed":
			return ErrExists
		case er.StatusCode == http.StatusConflict && er.Code == "ConditionalRequestConflict":
			// Another conditional write of this key is in flight; S3 lets
			// at most one of them win, and it is not us.
			return ErrExists
		}
	}
	return err
}

func (w *s3Writer) delete(ctx context.Context, name string) error {
	return w.tb.Delete(ctx, name)
}

func (w *s3Writer) close() error { return nil }
