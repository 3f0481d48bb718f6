package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/policies"
)

func (s *apiServer) inject(w http.ResponseWriter, r *http.Request) {
	var req api.InjectRequest
	if !s.decode(w, r, &req) || !s.checkReason(w, &req.Reason) {
		return
	}
	req.Policy, req.Member = strings.TrimSpace(req.Policy), strings.TrimSpace(req.Member)
	if req.Policy == "" {
		s.fail(w, http.StatusBadRequest, "policy is required")
		return
	}
	if !s.checkText(w, "policy", req.Policy, api.MaxName) || !s.checkText(w, "member", req.Member, api.MaxName) {
		return
	}
	rec, err := s.svc.Inject(r.Context(), actorOf(r), req)
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	s.reply(w, rec)
}

func (s *apiServer) report(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "since", "policy")
	if !ok {
		return
	}
	rq := api.ReportQuery{Since: api.DefaultReportSince, Policy: strings.TrimSpace(q.Get("policy"))}
	if v := q.Get("since"); v != "" {
		d, err := policies.ParseDuration(v)
		if err == nil && d <= 0 {
			err = fmt.Errorf("%q is not a positive duration", v)
		}
		if err != nil {
			s.fail(w, http.StatusBadRequest, "since: %v", err)
			return
		}
		rq.Since = d
	}
	rep, err := s.svc.Report(r.Context(), rq)
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	s.reply(w, rep)
}
