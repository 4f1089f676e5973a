#!/usr/bin/env bash
# Vulkan checks on a lent NVIDIA machine, with CUDA benchmarks from the same binary, from the
# archive scripts/bundle-cpu-checks.sh writes (carry build-bundle/cpu-checks.tar.xz, this script
# and .gl/ with the Debian libvulkan1/libglvnd packages). NVIDIA's Vulkan driver needs the
# machine's own (newer) C library, so the binaries run on the system loader with the bundled
# libraries minus the C library. Bench JSON lines are printed and packed into $OUT/bench.tar.gz.
set -uo pipefail
cd "$(dirname "$0")/../.."
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
icd="$(find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'nvidia_icd*.json' -print 2>/dev/null | head -1)"
[ -z "$icd" ] && icd="$(find /usr/local/nvidia /usr/share /etc -name 'nvidia_icd*.json' 2>/dev/null | head -1)"
echo "icd: $icd"; [ -n "$icd" ] && cat "$icd" && export VK_DRIVER_FILES="$icd"
ls /usr/local/nvidia 2>&1 | head; ldconfig -p | grep -i -E "GLX_nvidia|nvidia-glcore|libvulkan" | head
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
dest=/tmp/b; mkdir -p $dest
python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' build-bundle/cpu-checks.tar.xz $dest
here=$dest/rwkv-cpu-checks
# The driver's libraries need the machine's newer C library: run on the system loader, with
# the bundled libraries minus the C library.
mkdir -p $here/libx; for l in $here/lib/*; do case "$(basename $l)" in libc.so*|libm.so*|ld-linux*|libpthread*|libdl.so*|librt.so*) ;; *) ln -sf $l $here/libx/;; esac; done
export LD_LIBRARY_PATH=$here/libx
loader=""
build_dir="$(cat $here/build-dir)"; mkdir -p "$build_dir/bin"
printf '#!/usr/bin/env bash\nexec "%s" "$@"\n' "$here/bin/rwkv" > "$build_dir/bin/rwkv"
chmod +x "$build_dir/bin/rwkv"; rwkv="$build_dir/bin/rwkv"
export RWKV_REFERENCE_DIR=$here/reference
echo "== rwkv devices"; $rwkv devices
for t in backend_vulkan_ops_parity_test compat_vulkan_model_test; do
  echo "== $t"; timeout 90 "$here/bin/$t" --gtest_brief=1 2>&1 | tail -15
done
m=/tmp/models; mkdir -p $m /tmp/o
for type in q8_0; do
  $rwkv synth -o $m/$type.gguf --vocab $RWKV_REFERENCE_DIR/rwkv_vocab_v20230424.txt --type $type -t 16 >/dev/null 2>&1 || echo "synth $type failed"
  for be in ${RWKV_GPU_BACKENDS:-vulkan cuda}; do
    for args in "-p 128 -n 64" "-p 0 -n 16 --batch 16" "-p 0 -n 8 --batch 64"; do
      name="$type-$be-$(echo "$args" | tr -d ' -')"
      timeout 60 $rwkv bench -m $m/$type.gguf --backend $be --device 0 $args --json > /tmp/o/$name.json 2> /tmp/o/$name.err || echo "bench $name failed: $(tail -1 /tmp/o/$name.err)"
      echo "$name $(cat /tmp/o/$name.json)"
    done
  done
  rm -f $m/$type.gguf
done
tar -C /tmp -czf $OUT/bench.tar.gz o
