package http

// registerAudit registers the audit log endpoints.
func (s *Server) registerAudit() {}
