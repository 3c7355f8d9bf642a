package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var files embed.FS

// Handle mounts the console on mux at /console/ (and redirects /console).
func Handle(mux *http.ServeMux) {
	web, _ := fs.Sub(files, "web") // the embedded folder exists
	static := http.StripPrefix("/console/", http.FileServerFS(web))
	mux.Handle("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page runs only its own script and talks only to this origin.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		static.ServeHTTP(w, r)
	}))
	mux.Handle("/console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
}
