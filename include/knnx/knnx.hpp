// knnx/knnx.hpp — the whole public API in one include.
#pragma once

#include "knnx/config.hpp"
#include "knnx/device.hpp"
#include "knnx/error.hpp"
#include "knnx/index.hpp"
#include "knnx/index_factory.hpp"
#include "knnx/index_flat.hpp"
#include "knnx/index_io.hpp"
#include "knnx/index_ivf_flat.hpp"
#include "knnx/kmeans.hpp"
#include "knnx/metric.hpp"
#include "knnx/recall.hpp"
#include "knnx/synthetic.hpp"
#include "knnx/types.hpp"
#include "knnx/vector_io.hpp"
#include "knnx/version.hpp"
