{
  "variables": {
    "blas_lib%": "openblas"
  },
  "targets": [
    {
      "target_name": "optlab_native",
      "sources": ["optlab_native.c", "lapack.c"],
      "cflags_c": ["-std=c11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-Wno-psabi"],
      "libraries": ["-l<(blas_lib)"]
    }
  ]
}
