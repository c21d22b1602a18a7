{
  "variables": {
    "blas_lib%": "openblas"
  },
  "targets": [
    {
      "target_name": "optlab_native",
      "sources": ["addon.c", "blas.c", "blas_family.c", "elementwise.c", "norms.c", "optimizer.c", "stdio.c", "lapack.c", "attention.c", "newton_schulz.c", "threads.c"],
      "cflags_c": ["-std=c11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-fvisibility=hidden", "-Wno-psabi"],
      "libraries": ["-l<(blas_lib)", "-lpthread"]
    }
  ]
}
