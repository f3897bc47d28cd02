package embedded

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/gofiber/fiber/v3"
	"github.com/versity/versitygw/iamapi"
	"github.com/versity/versitygw/s3api"
)

// checkFiberApps makes sure the Versity servers still keep their
// *fiber.App in the unexported field app, the one way to reach the fasthttp
// server underneath, where timeouts are set and connections tracked. A
// Versity release that moves it makes Start fail here rather than serve
// without timeouts, fiberApp panic, or every stop turn slow again.
func checkFiberApps() error {
	for _, t := range []reflect.Type{reflect.TypeFor[s3api.S3ApiServer](), reflect.TypeFor[iamapi.IAMApiServer]()} {
		if f, ok := t.FieldByName("app"); !ok || f.Type != reflect.TypeFor[*fiber.App]() {
			return fmt.Errorf("embedded: %v no longer keeps its *fiber.App in field app; this Versity release needs a new way to set its listeners' timeouts and close unused connections on stop", t)
		}
	}
	return nil
}

// fiberApp reads a Versity server's app field (see checkFiberApps).
func fiberApp[T s3api.S3ApiServer | iamapi.IAMApiServer](server *T) *fiber.App {
	f := reflect.ValueOf(server).Elem().FieldByName("app")
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface().(*fiber.App)
}
