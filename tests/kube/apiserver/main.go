// Command kube-apiserver-lite is a small Kubernetes API server for tests: the real
// k8s.io/apiextensions-apiserver (CRDs with structural-schema validation and pruning, the
// status subresource, watch, label selectors, server-side apply and dry-run) plus a core/v1
// group served by the generic registry (namespaces, pods, services, events, configmaps,
// secrets, serviceaccounts, endpoints), all stored in etcd.
//
// It is not a cluster: no controllers, scheduler, kubelet, garbage collector or namespace
// finalizer run. Authentication is one static bearer token (--token); every authenticated
// request is allowed. Built by scripts/ensure-kube-apiserver from Debian's Go sources of the
// Kubernetes libraries (GOPATH mode), so it must compile against exactly those sources.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	noopoteltrace "go.opentelemetry.io/otel/trace/noop"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver"
	crdoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	generatedopenapi "k8s.io/apiextensions-apiserver/pkg/generated/openapi"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/names"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/util/openapi"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// scheme is the apiextensions server's scheme; the core types are added to it, because one
// storage codec and one set of serializers serve both the CRD machinery and core/v1.
var scheme = apiserver.Scheme

// coreResource describes one core/v1 resource served by the generic registry.
type coreResource struct {
	plural, singular string
	namespaced       bool
	newObj, newList  func() runtime.Object
	nameFn           metavalidation.ValidateNameFunc
	// returnDeleted: DELETE answers with the object, not a Status (as kube-apiserver does for
	// pods, services and serviceaccounts; clients decode the answer as that type)
	returnDeleted bool
	// For resources with a /status subresource: onCreate resets what a client may not set,
	// keepStatus copies the old status into an update of the main resource and keepSpec
	// copies the old spec into an update of /status (what the real strategies do).
	onCreate   func(obj runtime.Object)
	keepStatus func(obj, old runtime.Object)
	keepSpec   func(obj, old runtime.Object)
	attrs      func(obj runtime.Object) (labels.Set, fields.Set, error)
	fieldLabel []string // field selectors accepted besides metadata.name/namespace
}

var coreResources = []coreResource{
	{plural: "namespaces", singular: "namespace", nameFn: metavalidation.NameIsDNSLabel,
		newObj: func() runtime.Object { return &corev1.Namespace{} }, newList: func() runtime.Object { return &corev1.NamespaceList{} },
		// No namespace controller runs, so no "kubernetes" finalizer: deletion is immediate.
		onCreate: func(o runtime.Object) {
			ns := o.(*corev1.Namespace)
			ns.Spec.Finalizers, ns.Status = nil, corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
		},
		keepStatus: func(o, old runtime.Object) { o.(*corev1.Namespace).Status = old.(*corev1.Namespace).Status },
		keepSpec:   func(o, old runtime.Object) { o.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec },
	},
	{plural: "pods", singular: "pod", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain, returnDeleted: true,
		newObj: func() runtime.Object { return &corev1.Pod{} }, newList: func() runtime.Object { return &corev1.PodList{} },
		onCreate: func(o runtime.Object) {
			o.(*corev1.Pod).Status = corev1.PodStatus{Phase: corev1.PodPending}
		},
		keepStatus: func(o, old runtime.Object) { o.(*corev1.Pod).Status = old.(*corev1.Pod).Status },
		keepSpec:   func(o, old runtime.Object) { o.(*corev1.Pod).Spec = old.(*corev1.Pod).Spec },
		attrs: func(o runtime.Object) (labels.Set, fields.Set, error) {
			pod := o.(*corev1.Pod)
			return pod.Labels, generic.AddObjectMetaFieldsSet(fields.Set{
				"spec.nodeName": pod.Spec.NodeName, "status.phase": string(pod.Status.Phase),
				"status.podIP": pod.Status.PodIP,
			}, &pod.ObjectMeta, true), nil
		},
		fieldLabel: []string{"spec.nodeName", "status.phase", "status.podIP"},
	},
	{plural: "services", singular: "service", namespaced: true, nameFn: metavalidation.NameIsDNS1035Label, returnDeleted: true,
		newObj: func() runtime.Object { return &corev1.Service{} }, newList: func() runtime.Object { return &corev1.ServiceList{} },
		onCreate:   func(o runtime.Object) { o.(*corev1.Service).Status = corev1.ServiceStatus{} },
		keepStatus: func(o, old runtime.Object) { o.(*corev1.Service).Status = old.(*corev1.Service).Status },
		keepSpec:   func(o, old runtime.Object) { o.(*corev1.Service).Spec = old.(*corev1.Service).Spec },
	},
	{plural: "events", singular: "event", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain,
		newObj: func() runtime.Object { return &corev1.Event{} }, newList: func() runtime.Object { return &corev1.EventList{} },
		attrs: func(o runtime.Object) (labels.Set, fields.Set, error) {
			ev := o.(*corev1.Event)
			return ev.Labels, generic.AddObjectMetaFieldsSet(fields.Set{
				"involvedObject.kind": ev.InvolvedObject.Kind, "involvedObject.namespace": ev.InvolvedObject.Namespace,
				"involvedObject.name": ev.InvolvedObject.Name, "involvedObject.uid": string(ev.InvolvedObject.UID),
				"reason": ev.Reason, "type": ev.Type,
			}, &ev.ObjectMeta, true), nil
		},
		fieldLabel: []string{"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
			"involvedObject.uid", "reason", "type"},
	},
	{plural: "configmaps", singular: "configmap", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain,
		newObj: func() runtime.Object { return &corev1.ConfigMap{} }, newList: func() runtime.Object { return &corev1.ConfigMapList{} }},
	{plural: "secrets", singular: "secret", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain,
		newObj: func() runtime.Object { return &corev1.Secret{} }, newList: func() runtime.Object { return &corev1.SecretList{} }},
	{plural: "serviceaccounts", singular: "serviceaccount", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain, returnDeleted: true,
		newObj: func() runtime.Object { return &corev1.ServiceAccount{} }, newList: func() runtime.Object { return &corev1.ServiceAccountList{} }},
	{plural: "endpoints", singular: "endpoints", namespaced: true, nameFn: metavalidation.NameIsDNSSubdomain,
		newObj: func() runtime.Object { return &corev1.Endpoints{} }, newList: func() runtime.Object { return &corev1.EndpointsList{} }},
}

// registerCoreTypes adds the core/v1 types to the scheme both as v1 and as the internal
// version: the request handlers decode into the group's internal ("hub") version, and
// k8s.io/kubernetes's internal core types are not available, so v1 doubles as internal.
func registerCoreTypes() {
	internal := schema.GroupVersion{Group: "", Version: runtime.APIVersionInternal}
	for _, r := range coreResources {
		for _, gv := range []schema.GroupVersion{corev1.SchemeGroupVersion, internal} {
			scheme.AddKnownTypes(gv, r.newObj(), r.newList())
		}
		if len(r.fieldLabel) > 0 {
			allowed := append([]string{"metadata.name", "metadata.namespace"}, r.fieldLabel...)
			kind := reflect.TypeOf(r.newObj()).Elem().Name()
			err := scheme.AddFieldLabelConversionFunc(corev1.SchemeGroupVersion.WithKind(kind),
				func(label, value string) (string, string, error) {
					for _, a := range allowed {
						if a == label {
							return label, value, nil
						}
					}
					return "", "", fmt.Errorf("field label not supported: %s", label)
				})
			if err != nil {
				klog.Fatal(err)
			}
		}
	}
	// metav1's option and watch types are in core/v1 already: apiserver.Scheme's init adds them
}

// strategy is the create/update/delete strategy of a core resource (or of its /status).
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r      coreResource
	status bool
}

func (s strategy) NamespaceScoped() bool { return s.r.namespaced }
func (s strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	if s.r.onCreate != nil {
		s.r.onCreate(obj)
	}
}
func (s strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	switch {
	case s.status && s.r.keepSpec != nil:
		s.r.keepSpec(obj, old)
	case !s.status && s.r.keepStatus != nil:
		s.r.keepStatus(obj, old)
	}
}
func (s strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	meta, err := metav1Object(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return metavalidation.ValidateObjectMetaAccessor(meta, s.r.namespaced, s.r.nameFn, field.NewPath("metadata"))
}
func (s strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	meta, err := metav1Object(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	oldMeta, err := metav1Object(old)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("metadata"), err)}
	}
	return append(s.Validate(ctx, obj), metavalidation.ValidateObjectMetaAccessorUpdate(meta, oldMeta, field.NewPath("metadata"))...)
}
func (strategy) WarningsOnCreate(context.Context, runtime.Object) []string { return nil }
func (strategy) WarningsOnUpdate(context.Context, runtime.Object, runtime.Object) []string {
	return nil
}
func (strategy) Canonicalize(runtime.Object)    {}
func (strategy) AllowCreateOnUpdate() bool      { return false }
func (strategy) AllowUnconditionalUpdate() bool { return true }

func metav1Object(obj runtime.Object) (metav1.Object, error) {
	if m, ok := obj.(metav1.Object); ok {
		return m, nil
	}
	return nil, fmt.Errorf("%T has no object metadata", obj)
}

// statusREST serves <resource>/status: the same storage with the status strategy.
type statusREST struct{ store *genericregistry.Store }

func (r *statusREST) New() runtime.Object { return r.store.New() }
func (r *statusREST) Destroy()            {} // the main resource's store owns the storage
func (r *statusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}
func (r *statusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo,
	createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc,
	_ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// never create through /status
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

func coreStorage(optsGetter generic.RESTOptionsGetter) (map[string]rest.Storage, error) {
	storage := map[string]rest.Storage{}
	for _, r := range coreResources {
		plural := corev1.Resource(r.plural)
		store := &genericregistry.Store{
			NewFunc:                   r.newObj,
			NewListFunc:               r.newList,
			DefaultQualifiedResource:  plural,
			SingularQualifiedResource: corev1.Resource(r.singular),
			CreateStrategy:            strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, r: r},
			UpdateStrategy:            strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, r: r},
			DeleteStrategy:            strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, r: r},
			TableConvertor:            rest.NewDefaultTableConvertor(plural),
			ReturnDeletedObject:       r.returnDeleted,
		}
		if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: r.attrs}); err != nil {
			return nil, err
		}
		storage[r.plural] = store
		if r.keepSpec != nil {
			statusStore := *store
			statusStore.UpdateStrategy = strategy{ObjectTyper: scheme, NameGenerator: names.SimpleNameGenerator, r: r, status: true}
			storage[r.plural+"/status"] = &statusREST{store: &statusStore}
		}
	}
	return storage, nil
}

// openAPIDefinitions adds loose definitions of the core types (object metadata typed, the rest
// preserved as is) to the generated ones: the generic server needs a model for every served
// kind, and the generated models of k8s.io/api live in k8s.io/kubernetes, not packaged.
func openAPIDefinitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	defs := generatedopenapi.GetOpenAPIDefinitions(ref)
	str := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	for _, r := range coreResources {
		objName, listName := typeName(r.newObj()), typeName(r.newList())
		defs[objName] = common.OpenAPIDefinition{
			Schema: spec.Schema{
				SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
					"apiVersion": str, "kind": str,
					"metadata": {SchemaProps: spec.SchemaProps{Default: map[string]interface{}{},
						Ref: ref(metav1.ObjectMeta{}.OpenAPIModelName())}},
				}},
				VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{"x-kubernetes-preserve-unknown-fields": true}},
			},
			Dependencies: []string{metav1.ObjectMeta{}.OpenAPIModelName()},
		}
		defs[listName] = common.OpenAPIDefinition{
			Schema: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Required: []string{"items"},
				Properties: map[string]spec.Schema{
					"apiVersion": str, "kind": str,
					"metadata": {SchemaProps: spec.SchemaProps{Default: map[string]interface{}{},
						Ref: ref(metav1.ListMeta{}.OpenAPIModelName())}},
					"items": {SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{
						Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Default: map[string]interface{}{}, Ref: ref(objName)}}}}},
				}}},
			Dependencies: []string{metav1.ListMeta{}.OpenAPIModelName(), objName},
		}
	}
	return defs
}

// typeName is the OpenAPI model name of a type ("io.k8s.api.core.v1.Pod"), as the scheme
// and the generated definitions name it.
func typeName(obj runtime.Object) string {
	return obj.(interface{ OpenAPIModelName() string }).OpenAPIModelName()
}

// trimTrailingSlash serves /api/, /apis/ and /version/ as /api, /apis and /version: the
// Python kubernetes client asks for them and Debian's go-restful answers 404 otherwise.
func trimTrailingSlash(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = ""
		}
		h.ServeHTTP(w, r)
	})
}

// syncCRDGroupsIntoDiscovery lists established CRD groups in the legacy /apis document.
// kube-apiserver gets this from the aggregator (APIServices made for CRD groups); here the
// apiextensions server only serves /apis/<group>[/<version>] and the aggregated /apis.
func syncCRDGroupsIntoDiscovery(s *apiserver.CustomResourceDefinitions) {
	informer := s.Informers.Apiextensions().V1().CustomResourceDefinitions()
	var mu sync.Mutex
	added := map[string]bool{}
	resync := func() {
		mu.Lock()
		defer mu.Unlock()
		crds, err := informer.Lister().List(labels.Everything())
		if err != nil {
			return
		}
		versions := map[string]map[string]bool{}
		for _, crd := range crds {
			if !isEstablished(crd) {
				continue
			}
			for _, v := range crd.Spec.Versions {
				if v.Served {
					if versions[crd.Spec.Group] == nil {
						versions[crd.Spec.Group] = map[string]bool{}
					}
					versions[crd.Spec.Group][v.Name] = true
				}
			}
		}
		for group, vs := range versions {
			names := make([]string, 0, len(vs))
			for v := range vs {
				names = append(names, v)
			}
			sort.Slice(names, func(i, j int) bool { return version.CompareKubeAwareVersionStrings(names[i], names[j]) > 0 })
			apiGroup := metav1.APIGroup{Name: group}
			for _, v := range names {
				apiGroup.Versions = append(apiGroup.Versions, metav1.GroupVersionForDiscovery{GroupVersion: group + "/" + v, Version: v})
			}
			apiGroup.PreferredVersion = apiGroup.Versions[0]
			s.GenericAPIServer.DiscoveryGroupManager.AddGroup(apiGroup)
			added[group] = true
		}
		for group := range added {
			if versions[group] == nil {
				s.GenericAPIServer.DiscoveryGroupManager.RemoveGroup(group)
				delete(added, group)
			}
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(interface{}) { resync() },
		UpdateFunc: func(interface{}, interface{}) { resync() },
		DeleteFunc: func(interface{}) { resync() },
	})
	if err != nil {
		klog.Fatal(err)
	}
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func main() {
	etcdServers := flag.String("etcd-servers", "http://127.0.0.1:2379", "comma-separated etcd URLs")
	etcdPrefix := flag.String("etcd-prefix", "/registry", "key prefix of everything stored in etcd")
	bindAddress := flag.String("bind-address", "127.0.0.1", "address to serve HTTPS on")
	securePort := flag.Int("secure-port", 6443, "port to serve HTTPS on")
	certDir := flag.String("cert-dir", "", "where the self-signed serving certificate is written (empty: kept in memory)")
	token := flag.String("token", "", "the bearer token every client must send (required)")
	klog.InitFlags(nil)
	flag.Parse()
	if *token == "" {
		fmt.Fprintln(os.Stderr, "--token is required")
		os.Exit(2)
	}
	if err := run(*etcdServers, *etcdPrefix, *bindAddress, *securePort, *certDir, *token); err != nil {
		klog.Fatal(err)
	}
}

func run(etcdServers, etcdPrefix, bindAddress string, securePort int, certDir, token string) error {
	registerCoreTypes()
	ctx := genericapiserver.SetupSignalContext() // SIGTERM/SIGINT: graceful shutdown, exit 0

	config := genericapiserver.NewRecommendedConfig(apiserver.Codecs)

	// effective version, feature gates and timeouts as the stock servers default them
	runOptions := genericoptions.NewServerRunOptions()
	if err := runOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	if err := runOptions.ApplyTo(&config.Config); err != nil {
		return err
	}

	serving := genericoptions.NewSecureServingOptions().WithLoopback()
	serving.BindAddress = net.ParseIP(bindAddress)
	if serving.BindAddress == nil {
		return fmt.Errorf("--bind-address %q is not an IP address", bindAddress)
	}
	serving.BindPort = securePort
	serving.ServerCert.CertDirectory = certDir
	if err := serving.MaybeDefaultWithSelfSignedCerts("localhost", nil, []net.IP{net.ParseIP("127.0.0.1")}); err != nil {
		return err
	}
	if err := serving.ApplyTo(&config.SecureServing, &config.LoopbackClientConfig); err != nil {
		return err
	}

	// one storage codec for CRDs (apiextensions.k8s.io) and core/v1
	codec := apiserver.Codecs.LegacyCodec(corev1.SchemeGroupVersion, apiextensionsv1beta1.SchemeGroupVersion, apiextensionsv1.SchemeGroupVersion)
	etcd := genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig(etcdPrefix, codec))
	etcd.StorageConfig.Transport.ServerList = strings.Split(etcdServers, ",")
	if err := etcd.ApplyTo(&config.Config); err != nil {
		return err
	}

	// static token → cluster admin; everything is allowed; no admission plugins
	admin := &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}
	config.Authentication.Authenticator = authenticatorfactory.NewFromTokens(map[string]*user.DefaultInfo{token: admin}, nil)
	config.Authorization.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	genericapiserver.AuthorizeClientBearerToken(config.LoopbackClientConfig, &config.Authentication, &config.Authorization)
	config.AdmissionControl = admission.NewChainHandler()

	config.MergedResourceConfig = apiserver.DefaultAPIResourceConfigSource()
	namer := openapinamer.NewDefinitionNamer(scheme)
	defs := openapi.GetOpenAPIDefinitionsWithoutDisabledFeatures(openAPIDefinitions)
	config.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(defs, namer)
	config.OpenAPIConfig.Info.Title = "kube-apiserver-lite"
	config.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(defs, namer)
	config.OpenAPIV3Config.Info.Title = "kube-apiserver-lite"
	defaultChain := config.BuildHandlerChainFunc
	config.BuildHandlerChainFunc = func(h http.Handler, c *genericapiserver.Config) http.Handler {
		return trimTrailingSlash(defaultChain(h, c))
	}

	crdConfig := &apiserver.Config{
		GenericConfig: config,
		ExtraConfig: apiserver.ExtraConfig{
			CRDRESTOptionsGetter: crdoptions.NewCRDRESTOptionsGetter(*etcd, config.ResourceTransformers, config.StorageObjectCountTracker),
			ServiceResolver:      webhook.NewDefaultServiceResolver(),
			AuthResolverWrapper:  webhook.NewDefaultAuthenticationInfoResolverWrapper(nil, nil, config.LoopbackClientConfig, noopoteltrace.NewTracerProvider()),
		},
	}
	completed := crdConfig.Complete()
	// apiextensions turns discovery off because kube-apiserver serves it; here it is the only
	// server, so it serves /apis (and /api below) itself.
	completed.GenericConfig.EnableDiscovery = true
	server, err := completed.New(genericapiserver.NewEmptyDelegate())
	if err != nil {
		return err
	}
	syncCRDGroupsIntoDiscovery(server)

	storage, err := coreStorage(config.RESTOptionsGetter)
	if err != nil {
		return err
	}
	core := genericapiserver.NewDefaultAPIGroupInfo("", scheme, metav1.ParameterCodec, apiserver.Codecs)
	core.VersionedResourcesStorageMap["v1"] = storage
	if err := server.GenericAPIServer.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &core); err != nil {
		return err
	}

	// Objects may be created in any namespace (no NamespaceLifecycle admission), but clients
	// and kubectl expect these namespaces to exist, as kube-apiserver's bootstrap makes them.
	server.GenericAPIServer.AddPostStartHookOrDie("bootstrap-namespaces", func(hc genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(hc.LoopbackClientConfig)
		if err != nil {
			return err
		}
		return wait.PollUntilContextTimeout(hc, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic} {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
				if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					klog.Infof("creating namespace %s: %v", name, err)
					return false, nil
				}
			}
			return true, nil
		})
	})

	prepared := server.GenericAPIServer.PrepareRun()
	go announceReady(ctx, config.LoopbackClientConfig)
	return prepared.RunWithContext(ctx)
}

// announceReady prints one line on stdout once /readyz answers 200.
func announceReady(ctx context.Context, loopback *restclient.Config) {
	client, err := kubernetes.NewForConfig(loopback)
	if err != nil {
		return
	}
	_ = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
	if ctx.Err() == nil {
		fmt.Printf("kube-apiserver-lite ready on %s\n", loopback.Host)
	}
}
