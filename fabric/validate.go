package fabric

import (
	"fmt"
	"math"
	"unicode/utf8"

	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

func validNamespaceName(name string) *Error {
	if name == "" {
		return invalid("namespace-name", "namespace name is empty: use 1..%d bytes of [A-Za-z0-9_-]", maxNamespaceNameBytes)
	}
	if len(name) > maxNamespaceNameBytes {
		return invalid("namespace-name", "namespace name is %d bytes long: the limit is %d", len(name), maxNamespaceNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || (i > 0 && (c == '_' || c == '-')) {
			continue
		}
		return invalid("namespace-name", "namespace name %q: byte %d (%q) is not allowed; use [A-Za-z0-9_-], starting with a letter or digit", name, i, c)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// validID checks a document id; field names the request field for the message.
func validID(field, id string) *Error {
	if id == "" {
		return invalid("document-id", "%s: id is empty", field)
	}
	if len(id) > maxIDBytes {
		return invalid("document-id", "%s: id is %d bytes long: the limit is %d", field, len(id), maxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '/' || c == '@' || c == '-' {
			continue
		}
		return invalid("document-id", "%s: id %q has byte %q at %d: ids use [A-Za-z0-9._:/@-]", field, id, c, i)
	}
	return nil
}

func validAttributeName(field, name string) *Error {
	if name == "" || len(name) > maxAttributeNameBytes {
		return invalid("attribute-name", "%s: attribute name %q must be 1..%d bytes", field, name, maxAttributeNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || c == '_' || c == '.' || c == '-' {
			continue
		}
		return invalid("attribute-name", "%s: attribute name %q has byte %q at %d: use [A-Za-z0-9_.-]", field, name, c, i)
	}
	return nil
}

// validVector checks length and finiteness; for cosine it also rejects a
// zero vector, which has no direction.
func validVector(field string, v []float32, dim uint32, metric weftv1.Metric) *Error {
	if len(v) == 0 {
		return invalid("vector-empty", "%s: vector is empty: send %d values", field, dim)
	}
	if len(v) != int(dim) {
		return invalid("vector-dimension", "%s: vector has %d values, the namespace's dimension is %d", field, len(v), dim)
	}
	// A float32 is NaN or infinite exactly when its exponent bits are all
	// set: a mask per value instead of two float64 tests, on the import
	// path's hottest loop.
	var nonzero uint32
	for i, x := range v {
		b := math.Float32bits(x)
		if b&0x7f800000 == 0x7f800000 {
			return invalid("vector-not-finite", "%s: value %d is %v: every value must be finite", field, i, x)
		}
		nonzero |= b &^ (1 << 31) // any magnitude but zero
	}
	if metric == weftv1.Metric_METRIC_COSINE && nonzero == 0 {
		return invalid("vector-zero", "%s: a zero vector has no cosine distance: send a non-zero vector", field)
	}
	return nil
}

func attributeType(v *weftv1.AttributeValue) weftv1.AttributeType {
	switch v.GetKind().(type) {
	case *weftv1.AttributeValue_StringValue:
		return weftv1.AttributeType_ATTRIBUTE_TYPE_STRING
	case *weftv1.AttributeValue_IntValue:
		return weftv1.AttributeType_ATTRIBUTE_TYPE_INT
	case *weftv1.AttributeValue_FloatValue:
		return weftv1.AttributeType_ATTRIBUTE_TYPE_FLOAT
	case *weftv1.AttributeValue_BoolValue:
		return weftv1.AttributeType_ATTRIBUTE_TYPE_BOOL
	case *weftv1.AttributeValue_StringListValue:
		return weftv1.AttributeType_ATTRIBUTE_TYPE_STRING_LIST
	}
	return weftv1.AttributeType_ATTRIBUTE_TYPE_UNSPECIFIED
}

// typeName is the user-facing name of an attribute type.
func typeName(t weftv1.AttributeType) string {
	switch t {
	case weftv1.AttributeType_ATTRIBUTE_TYPE_STRING:
		return "string"
	case weftv1.AttributeType_ATTRIBUTE_TYPE_INT:
		return "int"
	case weftv1.AttributeType_ATTRIBUTE_TYPE_FLOAT:
		return "float"
	case weftv1.AttributeType_ATTRIBUTE_TYPE_BOOL:
		return "bool"
	case weftv1.AttributeType_ATTRIBUTE_TYPE_STRING_LIST:
		return "string list"
	}
	return "unset"
}

// validValue checks one attribute value on its own (set, finite, sized).
func validValue(field string, v *weftv1.AttributeValue) *Error {
	switch k := v.GetKind().(type) {
	case nil:
		return invalid("attribute-value", "%s: value has no type: set one of stringValue, intValue, floatValue, boolValue, stringListValue", field)
	case *weftv1.AttributeValue_StringValue:
		return validString(field, k.StringValue)
	case *weftv1.AttributeValue_FloatValue:
		if math.IsNaN(k.FloatValue) || math.IsInf(k.FloatValue, 0) {
			return invalid("attribute-value", "%s: float value %v is not finite", field, k.FloatValue)
		}
	case *weftv1.AttributeValue_StringListValue:
		vals := k.StringListValue.GetValues()
		if len(vals) > maxStringListLen {
			return invalid("attribute-value", "%s: string list has %d values: the limit is %d", field, len(vals), maxStringListLen)
		}
		for i, s := range vals {
			if validString("", s) != nil {
				return validString(fmt.Sprintf("%s[%d]", field, i), s)
			}
		}
	}
	return nil
}

func validString(field, s string) *Error {
	if len(s) > maxStringValueBytes {
		return invalid("attribute-value", "%s: string is %d bytes: the limit is %d", field, len(s), maxStringValueBytes)
	}
	if !utf8.ValidString(s) {
		return invalid("attribute-value", "%s: string is not valid UTF-8", field)
	}
	return nil
}

// validAttributes checks a document's attribute map against the schema.
func validAttributes(field string, attrs map[string]*weftv1.AttributeValue, schema map[string]weftv1.AttributeType) *Error {
	if len(attrs) > maxAttributesPerDoc {
		return invalid("attribute-count", "%s: %d attributes: the limit is %d", field, len(attrs), maxAttributesPerDoc)
	}
	for name, v := range attrs {
		if validAttribute("", name, v, schema) != nil {
			return validAttribute(field+".attributes["+name+"]", name, v, schema)
		}
	}
	return nil
}

// validAttribute checks one attribute; f names it in errors.
func validAttribute(f, name string, v *weftv1.AttributeValue, schema map[string]weftv1.AttributeType) *Error {
	if err := validAttributeName(f, name); err != nil {
		return err
	}
	if err := validValue(f, v); err != nil {
		return err
	}
	if want, ok := schema[name]; ok {
		if got := attributeType(v); got != want {
			return invalid("attribute-type", "%s: value is a %s, the schema declares %s", f, typeName(got), typeName(want))
		}
	}
	return nil
}

// validFilter checks a filter tree's shape, bounded in depth, size and
// cost: every node and every value of an in is work per document checked.
func validFilter(field string, f *weftv1.Filter) *Error {
	var w filterWork
	return walkFilter(field, f, 0, &w)
}

// filterWork counts a filter's nodes and in-values as walkFilter goes.
type filterWork struct{ nodes, values int }

func walkFilter(field string, f *weftv1.Filter, depth int, w *filterWork) *Error {
	w.nodes++
	if w.nodes > maxFilterNodes {
		return invalid("filter-too-large", "%s: filter has more than %d nodes", field, maxFilterNodes)
	}
	if depth > maxFilterDepth {
		return invalid("filter-too-deep", "%s: filter is nested deeper than %d levels", field, maxFilterDepth)
	}
	switch op := f.GetOp().(type) {
	case nil:
		return invalid("filter-empty", "%s: filter has no operator: set one of eq, ne, in, range, exists, and, or, not", field)
	case *weftv1.Filter_Eq:
		return validComparison(field+".eq", op.Eq)
	case *weftv1.Filter_Ne:
		return validComparison(field+".ne", op.Ne)
	case *weftv1.Filter_In:
		f := field + ".in"
		if err := validAttributeName(f, op.In.GetAttribute()); err != nil {
			return err
		}
		if n := len(op.In.GetValues()); n == 0 || n > maxInValues {
			return invalid("filter-in", "%s: in needs 1..%d values, got %d", f, maxInValues, n)
		}
		if w.values += len(op.In.GetValues()); w.values > maxFilterValues {
			return invalid("filter-too-costly", "%s: the filter's in operators hold more than %d values in all: every one is checked per document; use fewer values, or a shard key or plugin to narrow first", f, maxFilterValues)
		}
		for i, v := range op.In.GetValues() {
			if err := validScalar(fmt.Sprintf("%s.values[%d]", f, i), v); err != nil {
				return err
			}
		}
	case *weftv1.Filter_Range:
		return validRange(field+".range", op.Range)
	case *weftv1.Filter_Exists:
		return validAttributeName(field+".exists", op.Exists.GetAttribute())
	case *weftv1.Filter_And:
		return walkList(field+".and", op.And, depth, w)
	case *weftv1.Filter_Or:
		return walkList(field+".or", op.Or, depth, w)
	case *weftv1.Filter_Not:
		return walkFilter(field+".not", op.Not, depth+1, w)
	}
	return nil
}

func walkList(field string, l *weftv1.FilterList, depth int, w *filterWork) *Error {
	if len(l.GetFilters()) == 0 {
		return invalid("filter-empty", "%s: needs at least one filter", field)
	}
	for i, sub := range l.GetFilters() {
		if err := walkFilter(fmt.Sprintf("%s.filters[%d]", field, i), sub, depth+1, w); err != nil {
			return err
		}
	}
	return nil
}

func validComparison(field string, c *weftv1.Comparison) *Error {
	if err := validAttributeName(field, c.GetAttribute()); err != nil {
		return err
	}
	return validScalar(field+".value", c.GetValue())
}

// validScalar checks a value used in a filter: any type but a string list.
func validScalar(field string, v *weftv1.AttributeValue) *Error {
	if err := validValue(field, v); err != nil {
		return err
	}
	if attributeType(v) == weftv1.AttributeType_ATTRIBUTE_TYPE_STRING_LIST {
		return invalid("filter-value", "%s: filters compare with a single value, not a string list", field)
	}
	return nil
}

func validRange(field string, r *weftv1.RangeFilter) *Error {
	if err := validAttributeName(field, r.GetAttribute()); err != nil {
		return err
	}
	bounds := []*weftv1.AttributeValue{r.GetGt(), r.GetGte(), r.GetLt(), r.GetLte()}
	names := []string{"gt", "gte", "lt", "lte"}
	var numeric, text bool
	for i, b := range bounds {
		if b == nil {
			continue
		}
		f := field + "." + names[i]
		if err := validValue(f, b); err != nil {
			return err
		}
		switch attributeType(b) {
		case weftv1.AttributeType_ATTRIBUTE_TYPE_INT, weftv1.AttributeType_ATTRIBUTE_TYPE_FLOAT:
			numeric = true
		case weftv1.AttributeType_ATTRIBUTE_TYPE_STRING:
			text = true
		default:
			return invalid("filter-range", "%s: range bounds are numbers or strings, not %s", f, typeName(attributeType(b)))
		}
	}
	if !numeric && !text {
		return invalid("filter-range", "%s: set at least one of gt, gte, lt, lte", field)
	}
	if numeric && text {
		return invalid("filter-range", "%s: bounds mix numbers and strings", field)
	}
	if r.GetGt() != nil && r.GetGte() != nil || r.GetLt() != nil && r.GetLte() != nil {
		return invalid("filter-range", "%s: set at most one lower bound (gt or gte) and one upper bound (lt or lte)", field)
	}
	return nil
}

// validNewNamespace checks a CreateNamespace request's namespace.
func validNewNamespace(n *weftv1.Namespace) *Error {
	if n == nil {
		return invalid("namespace-missing", "namespace is missing: send name, dimension and metric")
	}
	if err := validNamespaceName(n.GetName()); err != nil {
		return err
	}
	if d := n.GetDimension(); d == 0 || d > maxDimension {
		return invalid("namespace-dimension", "namespace.dimension is %d: use 1..%d", d, maxDimension)
	}
	switch n.GetMetric() {
	case weftv1.Metric_METRIC_COSINE, weftv1.Metric_METRIC_L2, weftv1.Metric_METRIC_DOT:
	default:
		return invalid("namespace-metric", "namespace.metric is unset or unknown: choose METRIC_COSINE, METRIC_L2 or METRIC_DOT")
	}
	if err := validSchema("namespace.schema", n.GetSchema()); err != nil {
		return err
	}
	if k := n.GetShardKey(); k != "" {
		if err := validAttributeName("namespace.shard_key", k); err != nil {
			return err
		}
	} else if n.GetShardKeyRequired() {
		return invalid("namespace-shard-key-required", "namespace.shard_key_required needs namespace.shard_key: name the attribute queries must filter on")
	}
	if err := validPluginCalls("namespace.default_plugins", n.GetDefaultPlugins()); err != nil {
		return err
	}
	if err := validRecallSample(n.GetRecallSample()); err != nil {
		return err
	}
	return validSearchParams("namespace.default_search", n.GetDefaultSearch())
}

func validRecallSample(r float64) *Error {
	if r < 0 || r > 1 || math.IsNaN(r) {
		return invalid("recall-sample", "namespace.recall_sample %v: use a share in 0..1 (0 takes the server's --recall-sample)", r)
	}
	return nil
}

func validSchema(field string, schema []*weftv1.AttributeSchema) *Error {
	if len(schema) > maxSchemaAttributes {
		return invalid("schema-size", "%s declares %d attributes: the limit is %d", field, len(schema), maxSchemaAttributes)
	}
	seen := make(map[string]bool, len(schema))
	for i, a := range schema {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := validAttributeName(f, a.GetName()); err != nil {
			return err
		}
		if seen[a.GetName()] {
			return invalid("schema-duplicate", "%s: attribute %q is declared twice", f, a.GetName())
		}
		seen[a.GetName()] = true
		if typeName(a.GetType()) == "unset" {
			return invalid("schema-type", "%s: attribute %q has no type: use ATTRIBUTE_TYPE_STRING, _INT, _FLOAT, _BOOL or _STRING_LIST", f, a.GetName())
		}
	}
	return nil
}

func validPluginCalls(field string, calls []*weftv1.PluginCall) *Error {
	if len(calls) > maxPluginCalls {
		return invalid("plugin-calls", "%s names %d plugins: the limit is %d", field, len(calls), maxPluginCalls)
	}
	for i, c := range calls {
		if err := validNamespaceName(c.GetName()); err != nil {
			return invalid("plugin-name", "%s[%d].name: %s", field, i, err.Msg)
		}
	}
	return nil
}

func validSearchParams(field string, p *weftv1.SearchParams) *Error {
	if r := p.GetRecallTarget(); r < 0 || r > 1 || math.IsNaN(float64(r)) {
		return invalid("search-recall-target", "%s.recall_target %v: use a value in (0, 1], or 0 for the default", field, r)
	}
	if p.GetEf() > maxEf {
		return invalid("search-ef", "%s.ef %d is over the limit of %d", field, p.GetEf(), maxEf)
	}
	if p.GetRefine() > maxEf {
		return invalid("search-refine", "%s.refine %d is over the limit of %d", field, p.GetRefine(), maxEf)
	}
	if p.GetNprobe() > 0 && p.GetRecallTarget() > 0 {
		return invalid("search-nprobe-and-recall", "%s sets both nprobe and recall_target: set one (with recall_target every list that can hold a nearer row is searched)", field)
	}
	if p.GetEf() > 0 && p.GetRecallTarget() > 0 {
		return invalid("search-ef-and-recall", "%s sets both ef and recall_target: set one (recall_target picks ef)", field)
	}
	return nil
}

// validTopK checks a query's top_k.
func validTopK(k uint32) *Error {
	if k == 0 || k > maxTopK {
		return invalid("top-k", "top_k is %d: use 1..%d", k, maxTopK)
	}
	return nil
}
