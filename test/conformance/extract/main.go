// Command extract reads the Gateway API mesh conformance tests (the Go sources of
// sigs.k8s.io/gateway-api/conformance/tests/mesh) with go/ast and prints, as JSON, what each test
// does: its manifests, and for each request the client that sends it and the expected response
// (the http.ExpectedResponse literals), plus the expected weights of weighted tests. It evaluates the
// small subset of Go the tests use to build their cases: literals, composite literals, local
// variables, append, string concatenation and the suite's constants. Anything else is reported as an
// error for that test, never guessed.
//
// Usage: go run . <conformance module dir>
package main

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Client is the pod a request is sent from (echo.ConnectToApp / ConnectToAppInNamespace).
type Client struct {
	App       string `json:"app"`
	Namespace string `json:"namespace"`
}

// Run is one call that sends requests: one expected response per case.
type Run struct {
	Client  Client         `json:"client"`
	Cases   []any          `json:"cases"`
	Weights map[string]any `json:"weights,omitempty"`
	Extra   map[string]any `json:"extra,omitempty"`
}

// Test is one conformance test.
type Test struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Manifests   []string `json:"manifests"`
	Features    []string `json:"features"`
	Provisional bool     `json:"provisional"`
	Runs        []Run    `json:"runs"`
	Error       string   `json:"error,omitempty"`
}

type extractor struct {
	consts map[string]any // "suite.MeshNamespace" → value
	tests  map[string]*ast.CompositeLit
}

// env holds the local variables of a test function while it is walked.
type env struct {
	vars    map[string]any
	clients map[string]Client
	// Cases lists bound to a range loop's value variable (or to `tc := cases[i]`).
	elemOf map[string]string
	runs   []Run
}

type evalError struct{ msg string }

func fail(format string, args ...any) { panic(evalError{fmt.Sprintf(format, args...)}) }

func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.StarExpr:
		return "*" + exprString(x.X)
	case *ast.ArrayType:
		return "[]" + exprString(x.Elt)
	case *ast.MapType:
		return "map[" + exprString(x.Key) + "]" + exprString(x.Value)
	}
	return fmt.Sprintf("%T", e)
}

func (x *extractor) eval(e ast.Expr, en *env) any {
	switch v := e.(type) {
	case *ast.BasicLit:
		switch v.Kind {
		case token.STRING:
			s, err := strconv.Unquote(v.Value)
			if err != nil {
				fail("bad string %s", v.Value)
			}
			return s
		case token.INT:
			n, err := strconv.ParseInt(v.Value, 0, 64)
			if err != nil {
				fail("bad int %s", v.Value)
			}
			return n
		case token.FLOAT:
			f, err := strconv.ParseFloat(v.Value, 64)
			if err != nil {
				fail("bad float %s", v.Value)
			}
			return f
		}
	case *ast.Ident:
		switch v.Name {
		case "true":
			return true
		case "false":
			return false
		case "nil":
			return nil
		}
		if val, ok := en.vars[v.Name]; ok {
			return val
		}
		fail("unknown variable %s", v.Name)
	case *ast.SelectorExpr:
		name := exprString(v)
		if val, ok := x.consts[name]; ok {
			return val
		}
		// A pod's address: resolved by the harness when it knows the pods.
		if v.Sel.Name == "Address" {
			if c, ok := en.clients[exprString(v.X)]; ok {
				return fmt.Sprintf("{{address %s %s}}", c.Namespace, c.App)
			}
		}
		fail("unknown value %s", name)
	case *ast.BinaryExpr:
		if v.Op == token.ADD {
			l, lok := x.eval(v.X, en).(string)
			r, rok := x.eval(v.Y, en).(string)
			if lok && rok {
				return l + r
			}
		}
		fail("unsupported expression %s", v.Op)
	case *ast.UnaryExpr:
		if v.Op == token.AND {
			return x.eval(v.X, en)
		}
		fail("unsupported unary %s", v.Op)
	case *ast.ParenExpr:
		return x.eval(v.X, en)
	case *ast.CallExpr:
		fn := exprString(v.Fun)
		switch {
		case fn == "http.Ipv6SafeHost" && len(v.Args) == 1:
			return x.eval(v.Args[0], en) // IPv4 in the harness: unchanged
		case fn == "ptr.To" && len(v.Args) == 1:
			return x.eval(v.Args[0], en)
		case fn == "append" && len(v.Args) >= 1:
			base, _ := x.eval(v.Args[0], en).([]any)
			out := append([]any{}, base...)
			for i, a := range v.Args[1:] {
				val := x.eval(a, en)
				if v.Ellipsis.IsValid() && i == len(v.Args)-2 {
					more, _ := val.([]any)
					out = append(out, more...)
				} else {
					out = append(out, val)
				}
			}
			return out
		}
		fail("unsupported call %s", fn)
	case *ast.CompositeLit:
		return x.composite(v, en)
	}
	fail("unsupported expression %T", e)
	return nil
}

func (x *extractor) composite(c *ast.CompositeLit, en *env) any {
	switch t := c.Type.(type) {
	case *ast.ArrayType, nil:
		_ = t
		if _, isMap := c.Type.(*ast.MapType); !isMap {
			// A slice, or an element of one (type elided) that is itself a struct: decide by its elements.
			if len(c.Elts) > 0 {
				if _, kv := c.Elts[0].(*ast.KeyValueExpr); kv && c.Type == nil {
					return x.object(c, en)
				}
			}
			out := []any{}
			for _, e := range c.Elts {
				out = append(out, x.eval(e, en))
			}
			return out
		}
	case *ast.MapType:
		out := map[string]any{}
		for _, e := range c.Elts {
			kv := e.(*ast.KeyValueExpr)
			k, ok := x.eval(kv.Key, en).(string)
			if !ok {
				fail("map key is not a string")
			}
			out[k] = x.eval(kv.Value, en)
		}
		return out
	}
	return x.object(c, en)
}

// object evaluates a struct literal; an embedded struct (Request inside ExpectedRequest) keeps its
// field name as the key.
func (x *extractor) object(c *ast.CompositeLit, en *env) map[string]any {
	out := map[string]any{}
	for _, e := range c.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			fail("positional struct literal")
		}
		out[exprString(kv.Key)] = x.eval(kv.Value, en)
	}
	return out
}

const senderMethod = "MakeRequestAndExpectEventuallyConsistentResponse"

// walk interprets the statements of a test function in order.
func (x *extractor) walk(stmts []ast.Stmt, en *env) {
	for _, s := range stmts {
		switch st := s.(type) {
		case *ast.AssignStmt:
			for i, lhs := range st.Lhs {
				id, ok := lhs.(*ast.Ident)
				if !ok || i >= len(st.Rhs) {
					continue
				}
				rhs := st.Rhs[i]
				if call, ok := rhs.(*ast.CallExpr); ok {
					x.call(call, en)
					fn := exprString(call.Fun)
					if fn == "echo.ConnectToApp" || fn == "echo.ConnectToAppInNamespace" {
						app, _ := x.eval(call.Args[2], en).(string)
						ns := x.consts["suite.MeshNamespace"].(string)
						if fn == "echo.ConnectToAppInNamespace" {
							ns, _ = x.eval(call.Args[3], en).(string)
						}
						en.clients[id.Name] = Client{App: app, Namespace: ns}
						continue
					}
				}
				if idx, ok := rhs.(*ast.IndexExpr); ok {
					if list, ok := idx.X.(*ast.Ident); ok {
						en.elemOf[id.Name] = list.Name
						continue
					}
				}
				func() {
					defer func() {
						if r := recover(); r != nil {
							if _, ok := r.(evalError); !ok {
								panic(r)
							}
							// Not a value the cases need (a sender, a closure): leave it unknown.
						}
					}()
					en.vars[id.Name] = x.eval(rhs, en)
				}()
			}
		case *ast.RangeStmt:
			if list, ok := st.X.(*ast.Ident); ok {
				if v, ok := st.Value.(*ast.Ident); ok {
					en.elemOf[v.Name] = list.Name
				}
			}
			x.walk(st.Body.List, en)
		case *ast.ForStmt:
			x.walk(st.Body.List, en)
		case *ast.BlockStmt:
			x.walk(st.List, en)
		case *ast.IfStmt:
			if st.Init != nil {
				x.walk([]ast.Stmt{st.Init}, en)
			}
			x.walk(st.Body.List, en)
		case *ast.ExprStmt:
			x.call(st.X, en)
		}
	}
}

// call finds the request-sending calls (directly, or inside t.Run closures).
func (x *extractor) call(e ast.Expr, en *env) {
	ce, ok := e.(*ast.CallExpr)
	if !ok {
		return
	}
	if sel, ok := ce.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == senderMethod && len(ce.Args) >= 2 {
		client, ok := en.clients[exprString(sel.X)]
		if !ok {
			fail("request sent from unknown client %s", exprString(sel.X))
		}
		var cases []any
		if id, ok := ce.Args[1].(*ast.Ident); ok {
			if list, ok := en.elemOf[id.Name]; ok {
				cases, _ = en.vars[list].([]any)
			} else if v, ok := en.vars[id.Name]; ok {
				cases = []any{v}
			} else {
				fail("unknown cases %s", id.Name)
			}
		} else {
			cases = []any{x.eval(ce.Args[1], en)}
		}
		en.runs = append(en.runs, Run{Client: client, Cases: cases})
		return
	}
	if exprString(ce.Fun) == "weight.TestWeightedDistributionBatch" && len(ce.Args) == 2 && len(en.runs) > 0 {
		w, _ := x.eval(ce.Args[1], en).(map[string]any)
		en.runs[len(en.runs)-1].Weights = w
		return
	}
	for _, a := range ce.Args {
		if fl, ok := a.(*ast.FuncLit); ok {
			x.walk(fl.Body.List, en)
		}
	}
}

// body is the test function of a test (following `Test: OtherTest.Test`).
func (x *extractor) body(lit *ast.CompositeLit, depth int) *ast.FuncLit {
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		if exprString(kv.Key) != "Test" {
			continue
		}
		switch v := kv.Value.(type) {
		case *ast.FuncLit:
			return v
		case *ast.SelectorExpr:
			if other, ok := x.tests[exprString(v.X)]; ok && depth < 3 {
				return x.body(other, depth+1)
			}
		}
	}
	return nil
}

func (x *extractor) test(name string, lit *ast.CompositeLit) (t Test) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(evalError); ok {
				t.Error = e.msg
				return
			}
			panic(r)
		}
	}()
	en := &env{vars: map[string]any{}, clients: map[string]Client{}, elemOf: map[string]string{}}
	for _, e := range lit.Elts {
		kv := e.(*ast.KeyValueExpr)
		switch exprString(kv.Key) {
		case "ShortName":
			t.Name, _ = x.eval(kv.Value, en).(string)
		case "Description":
			t.Description, _ = x.eval(kv.Value, en).(string)
		case "Provisional":
			t.Provisional, _ = x.eval(kv.Value, en).(bool)
		case "Manifests":
			for _, m := range kv.Value.(*ast.CompositeLit).Elts {
				s, _ := x.eval(m, en).(string)
				t.Manifests = append(t.Manifests, s)
			}
		case "Features":
			for _, f := range kv.Value.(*ast.CompositeLit).Elts {
				name, ok := x.consts[exprString(f)].(string)
				if !ok {
					fail("unknown feature %s", exprString(f))
				}
				t.Features = append(t.Features, name)
			}
		}
	}
	if t.Name == "" {
		t.Name = name
	}
	fn := x.body(lit, 0)
	if fn == nil {
		fail("no test function")
	}
	x.walk(fn.Body.List, en)
	t.Runs = en.runs
	if len(t.Runs) == 0 {
		fail("no requests found")
	}
	return t
}

func parseDir(fset *token.FileSet, dir string) []*ast.File {
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		panic(err)
	}
	var files []*ast.File
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, m, nil, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		files = append(files, f)
	}
	return files
}

// featuresDir is pkg/features of sigs.k8s.io/gateway-api at the conformance module's version
// (".../conformance@v1.6.1" → sigs.k8s.io/gateway-api@v1.6.1, from the module cache or the proxy).
func featuresDir(root string) string {
	_, version, ok := strings.Cut(filepath.Base(root), "@")
	if !ok {
		fmt.Fprintln(os.Stderr, "cannot tell the version of", root)
		os.Exit(1)
	}
	out, err := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+version).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go mod download sigs.k8s.io/gateway-api@"+version+":", err)
		os.Exit(1)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		fmt.Fprintln(os.Stderr, "no module directory for sigs.k8s.io/gateway-api@"+version)
		os.Exit(1)
	}
	return filepath.Join(m.Dir, "pkg", "features")
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: extract <conformance module dir>")
		os.Exit(2)
	}
	root := os.Args[1]
	fset := token.NewFileSet()
	x := &extractor{consts: map[string]any{}, tests: map[string]*ast.CompositeLit{}}
	// The suite's string constants (namespaces) and the echo apps.
	for pkg, dir := range map[string]string{"suite": "utils/suite", "echo": "utils/echo"} {
		for _, f := range parseDir(fset, filepath.Join(root, dir)) {
			for _, d := range f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || (g.Tok != token.CONST && g.Tok != token.VAR) {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								v, _ := strconv.Unquote(lit.Value)
								x.consts[pkg+"."+n.Name] = v
							}
						}
					}
				}
			}
		}
	}
	// The feature names (features.SupportMesh → "Mesh"): pkg/features of the gateway-api module of
	// the same version, in the module cache beside the conformance module.
	for _, f := range parseDir(fset, featuresDir(root)) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, _ := strconv.Unquote(lit.Value)
							x.consts["features."+n.Name] = v
						}
					}
				}
			}
		}
	}
	var names []string
	for _, f := range parseDir(fset, filepath.Join(root, "tests", "mesh")) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.CompositeLit); ok && exprString(lit.Type) == "suite.ConformanceTest" {
						x.tests[n.Name] = lit
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	sort.Strings(names)
	out := []Test{}
	for _, n := range names {
		out = append(out, x.test(n, x.tests[n]))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
}
