# Sourced by scripts/demo and scripts/test: what a fresh Debian machine needs before manifold
# builds. Debian packages (installed as root, through sudo when it is there), a Rust toolchain of
# at least the workspace's rust-version (rustup from static.rust-lang.org when there is none) with
# a C compiler for the crates that build C, a check that a TCP port is free, and a way to run a long
# build that says how long it has been at work.

# The oldest Rust the workspace builds with (Cargo.toml's rust-version).
MANIFOLD_RUST=1.94

say() { printf '\n== %s\n' "$*" >&2; }

# Runs a command as root: directly when root, through sudo when it is installed; otherwise says
# what to run and fails.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "this needs root and sudo is not installed; run as root: $*" >&2
    return 1
  fi
}

# Installs the Debian packages named that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]} (Debian packages)"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Whether `rustc` is at least $MANIFOLD_RUST.
rust_is_recent() {
  local have
  have=$(rustc --version 2>/dev/null | awk '{print $2}') || return 1
  [ -n "$have" ] && [ "$(printf '%s\n%s\n' "$MANIFOLD_RUST" "$have" | sort -V | head -n 1)" = "$MANIFOLD_RUST" ]
}

# Makes `cargo` (Rust >= $MANIFOLD_RUST, with rustfmt and clippy when `components` is given) and a C
# compiler available, installing rustup for this user when there is no recent enough Rust.
ensure_rust() {
  apt_install ca-certificates curl gcc libc6-dev pkg-config
  [ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"
  if ! command -v cargo >/dev/null 2>&1 || ! rust_is_recent; then
    if command -v rustup >/dev/null 2>&1; then
      say "updating Rust to stable (manifold needs $MANIFOLD_RUST or later)"
      rustup toolchain install stable --profile minimal && rustup default stable
    else
      say "installing Rust with rustup (manifold needs $MANIFOLD_RUST or later; Debian's is older)"
      # rustup-init tells what it is from its file name: it must be called rustup-init.
      local dir
      dir=$(mktemp -d)
      curl -fsSL "https://static.rust-lang.org/rustup/dist/$(uname -m)-unknown-linux-gnu/rustup-init" -o "$dir/rustup-init"
      chmod +x "$dir/rustup-init"
      "$dir/rustup-init" -y -q --profile minimal --default-toolchain stable
      rm -rf "$dir"
      PATH="$HOME/.cargo/bin:$PATH"
    fi
  fi
  if [ "${1:-}" = components ] && command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1
  fi
  export PATH
  rust_is_recent || { echo "Rust $MANIFOLD_RUST or later is needed; $(rustc --version 2>&1)" >&2; return 1; }
}

# Fails, saying what uses it, when something already listens on 127.0.0.1:$1.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "port $1 on 127.0.0.1 is taken (by: $(ss -ltnpH "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n 1)); $2" >&2
    return 1
  fi
}

# Runs a command (a cargo build) with its output, stderr included, line by line as it comes; while
# it prints nothing for $PROGRESS_EVERY seconds (30), says how long it has been at work and the two
# crates it started last: a release build compiles its last crates, manifold among them, for
# minutes without a word. Returns the command's status.
with_progress() {
  local every=${PROGRESS_EVERY:-30} started=$SECONDS
  { local ran=0; "$@" 2>&1 || ran=$?; printf '\n::exit %d\n' "$ran"; } | {
    local line crate="" crates="" status=1 waited
    while :; do
      if IFS= read -r -t "$every" line; then
        case $line in
          "::exit "*) status=${line#::exit }; break ;;
          "") continue ;;
          *Compiling*|*Checking*)
            crates="$(awk '{print $2}' <<<"$line")${crate:+, $crate}"
            crate=${crates%%,*}
            ;;
        esac
        printf '%s\n' "$line"
      elif [ $? -gt 128 ]; then
        waited=$((SECONDS - started))
        printf '   … still at work after %d min %02d s%s\n' $((waited / 60)) $((waited % 60)) \
          "${crates:+ (the crates started last: $crates)}"
      else
        break
      fi
    done
    return "$status"
  }
}
