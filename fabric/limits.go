package fabric

// Limits of the API. They are documented in the .proto files; a request over
// one gets ResourceExhausted (sizes) or InvalidArgument (shapes).
const (
	maxDimension          = 10000
	maxIDBytes            = 128
	maxNamespaceNameBytes = 64
	maxAttributeNameBytes = 64
	maxAttributesPerDoc   = 256
	maxStringValueBytes   = 64 << 10
	maxStringListLen      = 1024
	maxDocsPerWrite       = 10000
	maxIDsPerGet          = 1000
	maxTopK               = 1000
	maxInValues           = 1024
	maxFilterDepth        = 32
	maxFilterNodes        = 1024
	maxFilterValues       = 8192 // in-values of a whole filter
	maxSchemaAttributes   = 1024
	maxPluginCalls        = 16
	maxEf                 = 10000

	// MaxRequestBytes bounds one request message (an upsert of 10,000
	// documents, a plugin module); Connect answers ResourceExhausted above
	// it. Services whose requests are small take less.
	MaxRequestBytes      = 64 << 20
	maxQueryRequestBytes = 4 << 20 // a vector, a filter, plugin calls
	maxAdminRequestBytes = 1 << 20 // namespaces, keys
)

// checkRoom refuses an upsert that would take namespace ns past
// Config.MaxDocuments. Concurrent upserts may each pass and overshoot by
// their own documents: the limit bounds growth, not an exact count.
func (s *Server) checkRoom(ns *namespace, ids []string) error {
	if s.maxDocuments <= 0 {
		return nil
	}
	st := ns.state()
	st.RLock()
	count, added := st.Count(), st.Added(ids)
	st.RUnlock()
	if added > 0 && count+added > s.maxDocuments {
		return tooLarge("namespace-full", "namespace %q holds %d documents and this upsert adds %d: the limit is %d per namespace (--limits.max-documents); delete documents or use another namespace", ns.name, count, added, s.maxDocuments)
	}
	return nil
}
