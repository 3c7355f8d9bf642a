// Command weft is Weft's single binary; each subcommand is a role or a tool.
//
//	weft serve        everything in one process: the API over a folder or a bucket
//	weft import       bulk-load fvecs, IDX or JSON lines through the API
//	weft query        one query from the command line
//	weft bench ann    in-process ANN index benchmark (JSON lines, as annpeer)
//
// serve reads flags, then WEFT_* environment variables (WEFT_LISTEN,
// WEFT_PLUGINS_POOL_SIZE, …), then the YAML file of --config, then its
// defaults. `weft <command> -h` lists every flag.
package main
