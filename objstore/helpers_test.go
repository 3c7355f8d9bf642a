package objstore_test

import (
	"errors"

	"github.com/weftdb/weft/objstore"
)

func isExists(err error) bool { return errors.Is(err, objstore.ErrExists) }
