// The kubectl steps of kgateway's waypoint guide (shared/guide/kgateway-waypoint-proxy.md), verbatim:
// the same commands and YAML, piped the same way, with the docs' `{{< reuse … >}}` placeholders
// resolved (product name `kgateway`, system namespace `kgateway-system`). Steps that exec into a pod
// (`kubectl exec deploy/client -- curl …`) are not here: KWOK pods run nothing, so tests send those
// requests through the ztunnel stand-in instead. Each snippet runs with bash.

export const createNamespace = "kubectl create ns httpbin\n";

export const deployHttpbin2 =
  'kubectl apply -f - <<EOF\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: httpbin2\n  namespace: httpbin\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: httpbin2\n  namespace: httpbin\n  labels:\n    app: httpbin2\n    service: httpbin2\nspec:\n  ports:\n  - name: http\n    port: 8000\n    targetPort: http\n    protocol: TCP\n    appProtocol: http\n  selector:\n    app: httpbin2\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: httpbin2\n  namespace: httpbin\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: httpbin2\n      version: v1\n  template:\n    metadata:\n      labels:\n        app: httpbin2\n        version: v1\n    spec:\n      serviceAccountName: httpbin2\n      containers:\n      - name: httpbin\n        image: mccutchen/go-httpbin:v2.14.0\n        command: [ go-httpbin ]\n        args:\n          - "-max-duration"\n          - "600s" # override default 10s\n          - -use-real-hostname\n        ports:\n          - name: http\n            containerPort: 8080\n            protocol: TCP\n        livenessProbe:\n          httpGet:\n            path: /status/200\n            port: http\n        readinessProbe:\n          httpGet:\n            path: /status/200\n            port: http\n        env:\n        - name: K8S_MEM_LIMIT\n          valueFrom:\n            resourceFieldRef:\n              divisor: "1"\n              resource: limits.memory\n        - name: GOMAXPROCS\n          valueFrom:\n            resourceFieldRef:\n              divisor: "1"\n              resource: limits.cpu\nEOF\n';

export const deployHttpbin3 =
  'kubectl apply -f - <<EOF\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: httpbin3\n  namespace: httpbin\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: httpbin3\n  namespace: httpbin\n  labels:\n    app: httpbin3\n    service: httpbin3\nspec:\n  ports:\n  - name: http\n    port: 8000\n    targetPort: http\n    protocol: TCP\n    appProtocol: http\n  selector:\n    app: httpbin3\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: httpbin3\n  namespace: httpbin\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: httpbin3\n      version: v1\n  template:\n    metadata:\n      labels:\n        app: httpbin3\n        version: v1\n    spec:\n      serviceAccountName: httpbin3\n      containers:\n      - name: httpbin\n        image: mccutchen/go-httpbin:v2.14.0\n        command: [ go-httpbin ]\n        args:\n          - "-max-duration"\n          - "600s" # override default 10s\n          - -use-real-hostname\n        ports:\n          - name: http\n            containerPort: 8080\n            protocol: TCP\n        livenessProbe:\n          httpGet:\n            path: /status/200\n            port: http\n        readinessProbe:\n          httpGet:\n            path: /status/200\n            port: http\n        env:\n        - name: K8S_MEM_LIMIT\n          valueFrom:\n            resourceFieldRef:\n              divisor: "1"\n              resource: limits.memory\n        - name: GOMAXPROCS\n          valueFrom:\n            resourceFieldRef:\n              divisor: "1"\n              resource: limits.cpu\nEOF\n';

export const deployClient =
  'kubectl apply -f - <<EOF\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: client\n  namespace: httpbin\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: client\n  namespace: httpbin\n  labels:\n    app: client\n    service: client\nspec:\n  ports:\n  - name: http\n    port: 8000\n    targetPort: 80\n  selector:\n    app: client\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: client\n  namespace: httpbin\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: client\n      version: v1\n  template:\n    metadata:\n      labels:\n        app: client\n        version: v1\n    spec:\n      serviceAccountName: client\n      containers:\n      - image: nicolaka/netshoot:latest\n        imagePullPolicy: IfNotPresent\n        name: netshoot\n        command: ["/bin/bash"]\n        args: ["-c", "while true; do ping localhost; sleep 60;done"]\nEOF\n';

export const getPods = "kubectl get pods -n httpbin\n";

export const labelNamespaces =
  "kubectl label ns httpbin istio.io/dataplane-mode=ambient\nkubectl label ns kgateway-system istio.io/dataplane-mode=ambient\n";

export const createWaypoint =
  "kubectl apply -f - <<EOF\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: kgateway-waypoint\n  namespace: httpbin\nspec:\n  gatewayClassName: kgateway-waypoint\n  listeners:\n  - name: proxy\n    port: 15088\n    protocol: istio.io/PROXY\nEOF\n";

export const rolloutStatus = "kubectl -n httpbin rollout status deploy kgateway-waypoint\n";

export const labelServices =
  "kubectl -n httpbin label svc httpbin2 istio.io/use-waypoint=kgateway-waypoint\nkubectl -n httpbin label svc httpbin3 istio.io/use-waypoint=kgateway-waypoint\n";

export const routeHttpbin2 =
  'kubectl apply -f - <<EOF\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: httpbin2\n  namespace: httpbin\nspec:\n  parentRefs:\n  - name: httpbin2\n    kind: Service\n    group: ""\n  rules:\n    - matches:\n      - path:\n          type: PathPrefix\n          value: /\n      backendRefs:\n       - name: httpbin2\n         port: 8000\n      filters:\n        - type: RequestHeaderModifier\n          requestHeaderModifier:\n            add:\n              - name: App\n                value: httpbin2\n            set:\n              - name: User-Agent\n                value: custom\n            remove:\n              - X-Remove\nEOF\n';

export const routeHttpbin3 =
  'kubectl apply -f - <<EOF\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: httpbin3\n  namespace: httpbin\nspec:\n  parentRefs:\n  - name: httpbin3\n    kind: Service\n    group: ""\n  rules:\n    - matches:\n      - path:\n          type: PathPrefix\n          value: /\n      backendRefs:\n       - name: httpbin3\n         port: 8000\n      filters:\n        - type: RequestHeaderModifier\n          requestHeaderModifier:\n            add:\n              - name: App\n                value: httpbin3\nEOF\n';

export const trafficPolicy =
  "kubectl apply -f- <<EOF\napiVersion: gateway.kgateway.dev/v1alpha1\nkind: TrafficPolicy\nmetadata:\n  name: transformation\n  namespace: httpbin\nspec:\n  targetRefs:\n  - group: gateway.networking.k8s.io\n    kind: HTTPRoute\n    name: httpbin2\n  transformation:\n    response:\n      set:\n      - name: x-base64-decoded\n        value: '{{ substring(base64_decode(request_header(\"x-base64-encoded\")), 11) }}'\nEOF\n";

export const deleteTrafficPolicy = "kubectl delete TrafficPolicy transformation -n httpbin\n";

export const cleanup =
  "kubectl delete HTTPRoute httpbin3 -n httpbin\nkubectl delete HTTPRoute httpbin2 -n httpbin\nkubectl delete gateway kgateway-waypoint -n httpbin\nkubectl delete serviceaccount httpbin2 -n httpbin\nkubectl delete service httpbin2 -n httpbin\nkubectl delete deployment httpbin2 -n httpbin\nkubectl delete serviceaccount httpbin3 -n httpbin\nkubectl delete service httpbin3 -n httpbin\nkubectl delete deployment httpbin3 -n httpbin\nkubectl delete serviceaccount client -n httpbin\nkubectl delete service client -n httpbin\nkubectl delete deployment client -n httpbin\nkubectl delete TrafficPolicy transformation -n httpbin\n";
