package weft

import (
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// Metric is how a namespace measures distances; smaller is always closer.
type Metric = weftv1.Metric

const (
	// Cosine is 1 − cosine similarity, in [0, 2].
	Cosine Metric = weftv1.Metric_METRIC_COSINE
	// L2 is the Euclidean distance (not squared).
	L2 Metric = weftv1.Metric_METRIC_L2
	// Dot is minus the inner product.
	Dot Metric = weftv1.Metric_METRIC_DOT
)

// AttributeType is the declared type of an attribute in a namespace schema.
type AttributeType = weftv1.AttributeType

// The attribute types.
const (
	TypeString     AttributeType = weftv1.AttributeType_ATTRIBUTE_TYPE_STRING
	TypeInt        AttributeType = weftv1.AttributeType_ATTRIBUTE_TYPE_INT
	TypeFloat      AttributeType = weftv1.AttributeType_ATTRIBUTE_TYPE_FLOAT
	TypeBool       AttributeType = weftv1.AttributeType_ATTRIBUTE_TYPE_BOOL
	TypeStringList AttributeType = weftv1.AttributeType_ATTRIBUTE_TYPE_STRING_LIST
)

// The consistency levels of a query (see [Consistency]).
const (
	// Strong queries see every write acknowledged before they started (the
	// default).
	Strong = weftv1.Consistency_CONSISTENCY_STRONG
	// Eventual queries read indexed segments only: cheaper, and they may
	// miss the newest writes.
	Eventual = weftv1.Consistency_CONSISTENCY_EVENTUAL
)

// Document is the unit of storage: an id, a vector and typed attributes.
type Document = weftv1.Document

// Value is one typed attribute value; build it with [String], [Int],
// [Float], [Bool] or [Strings].
type Value = weftv1.AttributeValue

// Attributes are a document's attributes by name.
type Attributes = map[string]*Value

// Doc returns a document. An empty id asks the server to assign one (a
// UUIDv7, returned by Upsert); attrs may be nil.
func Doc(id string, vector []float32, attrs Attributes) *Document {
	return &Document{Id: id, Vector: vector, Attributes: attrs}
}

// String returns a string attribute value.
func String(s string) *Value {
	return &Value{Kind: &weftv1.AttributeValue_StringValue{StringValue: s}}
}

// Int returns an integer attribute value.
func Int(i int64) *Value {
	return &Value{Kind: &weftv1.AttributeValue_IntValue{IntValue: i}}
}

// Float returns a floating-point attribute value.
func Float(f float64) *Value {
	return &Value{Kind: &weftv1.AttributeValue_FloatValue{FloatValue: f}}
}

// Bool returns a boolean attribute value.
func Bool(b bool) *Value {
	return &Value{Kind: &weftv1.AttributeValue_BoolValue{BoolValue: b}}
}

// Strings returns a string-list attribute value.
func Strings(ss ...string) *Value {
	return &Value{Kind: &weftv1.AttributeValue_StringListValue{StringListValue: &weftv1.StringList{Values: ss}}}
}

// Update returns an attribute update for [Namespace.UpdateAttributes]: set
// adds or replaces attributes of the document id, remove deletes some.
func Update(id string, set Attributes, remove ...string) *weftv1.AttributeUpdate {
	return &weftv1.AttributeUpdate{Id: id, Set: set, Remove: remove}
}
