// Package upstream runs the Gateway API conformance suite's own comparison (conformance/utils/http
// CompareRoundTrip, imported from the module at the pinned version, not copied) on the responses that
// ../compare.test.ts feeds our comparator, so that test can check both agree. Driven by
// ../compare.test.ts through `go test`:
//
//	WAYMARK_UPSTREAM_IN=cases.json WAYMARK_UPSTREAM_OUT=verdicts.json go test ./...
//
// Each input item is a mesh case (the extractor's shape) and a response; each output item is
// upstream's error for it ("" when upstream accepts the response).
package upstream

import (
	"encoding/json"
	"os"
	"testing"

	"sigs.k8s.io/gateway-api/conformance/utils/http"
	"sigs.k8s.io/gateway-api/conformance/utils/roundtripper"
)

type request struct {
	Host, Method, Path string
	Headers            map[string]string
	UnfollowRedirect   bool
	Protocol           string
}

type item struct {
	Name string
	Case struct {
		Request         request
		ExpectedRequest *struct {
			Request       request
			AbsentHeaders []string
		}
		RedirectRequest *roundtripper.RedirectRequest
		Response        struct {
			StatusCode    int
			StatusCodes   []int
			Headers       map[string]string
			AbsentHeaders []string
		}
		Backend, Namespace string
	}
	Response struct {
		Status  int                           `json:"status"`
		Headers map[string][]string           `json:"responseHeaders"`
		Echo    *roundtripper.CapturedRequest `json:"echo"`
	}
}

type verdict struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func toUpstream(r request) http.Request {
	return http.Request{Host: r.Host, Method: r.Method, Path: r.Path, Headers: r.Headers, UnfollowRedirect: r.UnfollowRedirect, Protocol: r.Protocol}
}

func TestCompareRoundTrip(t *testing.T) {
	in, out := os.Getenv("WAYMARK_UPSTREAM_IN"), os.Getenv("WAYMARK_UPSTREAM_OUT")
	if in == "" || out == "" {
		t.Skip("WAYMARK_UPSTREAM_IN and WAYMARK_UPSTREAM_OUT name the cases and the verdicts")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var items []item
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatal(err)
	}
	verdicts := []verdict{}
	for _, it := range items {
		c := it.Case
		exp := http.ExpectedResponse{
			Request:         toUpstream(c.Request),
			RedirectRequest: c.RedirectRequest,
			Response: http.Response{
				StatusCode:    c.Response.StatusCode,
				StatusCodes:   c.Response.StatusCodes,
				Headers:       c.Response.Headers,
				AbsentHeaders: c.Response.AbsentHeaders,
			},
			Backend:   c.Backend,
			Namespace: c.Namespace,
		}
		if c.ExpectedRequest != nil {
			exp.ExpectedRequest = &http.ExpectedRequest{Request: toUpstream(c.ExpectedRequest.Request), AbsentHeaders: c.ExpectedRequest.AbsentHeaders}
		}
		// The request's URL authority is the mesh case's host (a relative Location resolves against it).
		req := http.MakeRequest(t, &exp, c.Request.Host, "HTTP", "http")
		cRes := &roundtripper.CapturedResponse{StatusCode: it.Response.Status, Headers: it.Response.Headers}
		if roundtripper.IsRedirect(cRes.StatusCode) {
			var loc string
			for k, v := range it.Response.Headers {
				if (k == "location" || k == "Location") && len(v) > 0 {
					loc = v[0]
				}
			}
			u, err := req.URL.Parse(loc)
			if loc == "" || err != nil {
				verdicts = append(verdicts, verdict{it.Name, "no usable Location"})
				continue
			}
			cRes.RedirectRequest = &roundtripper.RedirectRequest{Scheme: u.Scheme, Host: u.Hostname(), Port: u.Port(), Path: u.Path}
		}
		cReq := it.Response.Echo
		if cReq == nil {
			cReq = &roundtripper.CapturedRequest{}
		}
		v := verdict{Name: it.Name}
		if err := http.CompareRoundTrip(t, &req, cReq, cRes, exp); err != nil {
			v.Error = err.Error()
		}
		verdicts = append(verdicts, v)
	}
	b, _ := json.Marshal(verdicts)
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
