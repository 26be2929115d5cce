# Sourced by the hack/build-*.sh scripts: builds a program from a scratch module of its own,
# once per machine, with a progress line and the time it took.

# build_once LABEL MODULE_DIR OUT NAME PACKAGE [go build flags...] builds PACKAGE, as pinned by
# the module in MODULE_DIR, into OUT/NAME, unless it is there already. It builds to a temporary
# name of this run's own, so that an interrupted build never leaves a half-written binary and
# two builds at once never take each other's file.
build_once() {
	local label="$1" module_dir="$2" out="$3" name="$4" pkg="$5" start
	shift 5
	mkdir -p "$out"
	if [[ -x "$out/$name" ]]; then
		echo "$label: $name already built in $out" >&2
		return
	fi
	echo "$label: building $name ($pkg)..." >&2
	start=$(date +%s)
	(cd "$module_dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' "$@" -o "$out/.$name.tmp.$$" "$pkg")
	mv "$out/.$name.tmp.$$" "$out/$name"
	echo "$label: built $name in $(( $(date +%s) - start ))s" >&2
}
