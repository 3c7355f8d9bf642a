package fabric

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
)

// Error is a user-facing error: the request was wrong or hit a limit.
// Its message reaches the client verbatim, so it must name the field to fix
// and never carry paths or secrets.
type Error struct {
	Code connect.Code
	// ID is stable across releases; it labels the weft_user_errors_total metric.
	ID  string
	Msg string
}

func (e *Error) Error() string { return e.Msg }

func invalid(id, format string, args ...any) *Error {
	return &Error{Code: connect.CodeInvalidArgument, ID: id, Msg: fmt.Sprintf(format, args...)}
}

func notFound(id, format string, args ...any) *Error {
	return &Error{Code: connect.CodeNotFound, ID: id, Msg: fmt.Sprintf(format, args...)}
}

func tooLarge(id, format string, args ...any) *Error {
	return &Error{Code: connect.CodeResourceExhausted, ID: id, Msg: fmt.Sprintf(format, args...)}
}

func unavailable(id, format string, args ...any) *Error {
	return &Error{Code: connect.CodeUnavailable, ID: id, Msg: fmt.Sprintf(format, args...)}
}

func alreadyExists(id, format string, args ...any) *Error {
	return &Error{Code: connect.CodeAlreadyExists, ID: id, Msg: fmt.Sprintf(format, args...)}
}

// errNamespaceNotFound is the error for every RPC naming a missing namespace.
func errNamespaceNotFound(name string) *Error {
	return notFound("namespace-not-found", "namespace %q does not exist: create it with NamespaceService.CreateNamespace", name)
}

// userError returns err as an *Error when it is one.
func userError(err error) (*Error, bool) {
	var ue *Error
	ok := errors.As(err, &ue)
	return ue, ok
}

// errGenerationClosed reports that another process deleted the namespace
// generation this process was serving, so nothing was done; a retry loads
// whatever the namespace is now.
func errGenerationClosed(name string) *Error {
	return &Error{Code: connect.CodeAborted, ID: "namespace-replaced", Msg: fmt.Sprintf("namespace %q was deleted (maybe re-created) by another process while this request ran: nothing was written; retry", name)}
}

// generationClosed reports whether err is errGenerationClosed's.
func generationClosed(err error) bool {
	ue, ok := userError(err)
	return ok && ue.ID == "namespace-replaced"
}

// namespaceMissing reports whether err is errNamespaceNotFound's.
func namespaceMissing(err error) bool {
	ue, ok := userError(err)
	return ok && ue.ID == "namespace-not-found"
}
