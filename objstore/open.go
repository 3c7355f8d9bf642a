package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/thanos-io/objstore/providers/filesystem"
	"gopkg.in/yaml.v3"
)

// Supported values of the "type" field of Open's config.
const (
	TypeFilesystem = "FILESYSTEM"
	TypeS3         = "S3"
	TypeInMemory   = "IN-MEMORY"
)

// openConfig is thanos-objstore's bucket config: `type:` and `config:`.
type openConfig struct {
	Type   string `yaml:"type"`
	Config any    `yaml:"config"`
}

// Open builds a bucket from thanos-objstore YAML:
//
//	type: S3            # FILESYSTEM, S3 or IN-MEMORY (case-insensitive)
//	config:
//	  bucket: weft
//	  endpoint: s3.example.com
//
// The config block is the provider's own (thanos-io/objstore docs). A nil
// logger discards the provider's logs.
func Open(ctx context.Context, config []byte, logger *slog.Logger) (Bucket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var oc openConfig
	dec := yaml.NewDecoder(bytes.NewReader(config))
	dec.KnownFields(true)
	if err := dec.Decode(&oc); err != nil {
		return nil, fmt.Errorf("parse bucket config: %w", err)
	}
	sub, err := yaml.Marshal(oc.Config)
	if err != nil {
		return nil, fmt.Errorf("parse bucket config: %w", err)
	}
	if oc.Config == nil {
		sub = nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch strings.ToUpper(oc.Type) {
	case TypeFilesystem:
		var fc filesystem.Config
		if err := yaml.Unmarshal(sub, &fc); err != nil {
			return nil, fmt.Errorf("parse FILESYSTEM bucket config: %w", err)
		}
		if fc.Directory == "" {
			return nil, errors.New("FILESYSTEM bucket config: set config.directory")
		}
		return NewFilesystem(fc.Directory)
	case TypeS3:
		b, err := newS3(kitLogger{logger}, sub)
		if err != nil {
			return nil, fmt.Errorf("open S3 bucket: %w", err)
		}
		return b, nil
	case TypeInMemory, "MEMORY", "INMEMORY":
		return NewInMemory(), nil
	case "":
		return nil, fmt.Errorf("bucket config has no type: set type to one of %s, %s, %s", TypeFilesystem, TypeS3, TypeInMemory)
	default:
		return nil, fmt.Errorf("bucket type %q is not supported: use one of %s, %s, %s", oc.Type, TypeFilesystem, TypeS3, TypeInMemory)
	}
}

// kitLogger adapts slog to the go-kit logger the thanos providers take.
type kitLogger struct{ l *slog.Logger }

func (k kitLogger) Log(keyvals ...any) error {
	level := slog.LevelInfo
	msg := ""
	attrs := make([]any, 0, len(keyvals))
	for i := 0; i+1 < len(keyvals); i += 2 {
		key := fmt.Sprint(keyvals[i])
		switch key {
		case "msg":
			msg = fmt.Sprint(keyvals[i+1])
			continue
		case "level":
			switch fmt.Sprint(keyvals[i+1]) {
			case "debug":
				level = slog.LevelDebug
			case "warn":
				level = slog.LevelWarn
			case "error":
				level = slog.LevelError
			}
			continue
		}
		attrs = append(attrs, key, keyvals[i+1])
	}
	k.l.Log(context.Background(), level, msg, attrs...)
	return nil
}
