# versions.toml for the shell scripts (.ci/run, deploy/lock.sh, deploy/ci/*.sh), from the
# repository's root:   . deploy/matrix.sh; matrix kafka.version
# Any Python 3.11+ reads it (tomllib): MATRIX_PYTHON names one, else python3.
matrix() {
  "${MATRIX_PYTHON:-python3}" -c 'import sys, tomllib
v = tomllib.load(open("versions.toml", "rb"))
for k in sys.argv[1].split("."): v = v[k]
print(v)' "$1"
}
