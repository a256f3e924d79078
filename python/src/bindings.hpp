// bindings.hpp — the pieces of the knnx._knnx extension module, one function per concept.
//
// module.cpp calls each bind_* in order; errors come first so that every later binding already
// raises the mapped Python exceptions.
#pragma once

#include <nanobind/nanobind.h>

namespace knnx::python {

namespace nb = nanobind;

void bind_errors(nb::module_& m);         // errors.cpp: knnx::Error hierarchy -> Python exceptions
void bind_metric(nb::module_& m);         // metric.cpp: knnx.Metric
void bind_device(nb::module_& m);         // device.cpp: CUDA availability queries
void bind_device_memory(nb::module_& m);  // device_memory.cpp: raw device pointers, DLPack views
void bind_config(nb::module_& m);         // config.cpp: knobs
void bind_kmeans_params(nb::module_& m);  // kmeans_params.cpp: KMeansInit, KMeansParams
void bind_kmeans(nb::module_& m);         // kmeans.cpp: KMeans
void bind_id_selectors(nb::module_& m);   // id_selector.cpp: IDSelector*, range_search
void bind_search_params(nb::module_& m);  // search_params.cpp: SearchParameters(IVF)
void bind_index(nb::module_& m);          // index.cpp: Index, IndexFlat
void bind_index_ivf(nb::module_& m);      // index_ivf.cpp: IndexIVFFlat
void bind_index_refine(nb::module_& m);   // index_refine.cpp: IndexRefineFlat
void bind_index_sq(nb::module_& m);       // index_sq.cpp: ScalarQuantizer, IndexScalarQuantizer,
                                          // IndexIVFScalarQuantizer
void bind_index_pq(nb::module_& m);       // index_pq.cpp: ProductQuantizer, IndexPQ, IndexIVFPQ
void bind_transform(nb::module_& m);      // transform.cpp: transforms, IndexPreTransform
void bind_index_file(nb::module_& m);     // index_file.cpp: read/write_index, index_factory
void bind_io(nb::module_& m);             // io.cpp: vector files
void bind_synthetic(nb::module_& m);      // synthetic.cpp: Gaussian-mixture data
void bind_recall(nb::module_& m);         // recall.cpp: recall@k

}  // namespace knnx::python
