# Sourced by scripts/bootstrap-k8s.sh and scripts/bootstrap-node.sh: builds commands of
# k8s.io/kubernetes at $K8S_VERSION from the Go module proxy into OUT (skipped when all are there).
# k8s.io/kubernetes's go.mod pins its staging modules at v0.0.0 with replace directives to its own
# tree, which a module download lacks: each is replaced with its published v0.<minor>.<patch>. The
# version variables are stamped as the release's build does.
#   k8s_build OUT "cmd1 cmd2 ..."
# The one Kubernetes version of the test cluster: its control plane and its node's kubelet and
# kube-proxy are built from it, so they never skew.
K8S_VERSION=1.36.3
k8s_build() {
  local out=$1 cmds=$2 c missing=0
  for c in $cmds; do [ -x "$out/$c" ] || missing=1; done
  [ "$missing" = 0 ] && return 0
  local v="0.${K8S_VERSION#1.}" minor; minor=${K8S_VERSION#1.}; minor=${minor%%.*}
  local w; w=$(mktemp -d) && cd "$w" && go mod init local/k8sw >/dev/null 2>&1
  local mod; mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
  for m in $(grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$mod" | awk '{print $1}'); do go mod edit -replace "$m=$m@v$v"; done
  go get -tool $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c@v$K8S_VERSION"; done) >/dev/null 2>&1
  go mod tidy >/dev/null 2>&1
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  done
  rm -rf "$out.tmp" && mkdir -p "$out.tmp" && go build -trimpath -ldflags "$ld" -o "$out.tmp/" $(for c in $cmds; do echo "k8s.io/kubernetes/cmd/$c"; done)
  rm -rf "$out" && mv "$out.tmp" "$out" && cd / && rm -rf "$w"
}
