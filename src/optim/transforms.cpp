// optax's building-block transformations (optax/_src/transform.py,
// optax/transforms/_accumulation.py, _adding.py, _masking.py, optax/_src/clipping.py, update.py,
// linear_algebra.py). Each follows optax's formula and order of operations; Python scalars become
// kiln weak scalars, which take the array's dtype exactly as JAX's weak types do.
#include <memory>
#include <utility>

#include "kiln/ops.hpp"
#include "kiln/optim.hpp"
#include "optim/tree_math.hpp"

namespace kiln::optim {
namespace {

Tree empty_state(const Tree&) {
  return Tree::dict();
}

}  // namespace

GradientTransformation scale(double step_size) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [step_size](const Tree& updates, const Tree& state, const Tree&) {
    // optax: `step_size * g`.
    return std::make_pair(
        tree_map([step_size](const Array& g) { return mul(step_size, g); }, updates), state);
  };
  return t;
}

GradientTransformation scale_by_schedule(Schedule step_size_fn) {
  GradientTransformation t;
  t.init = [](const Tree&) { return Tree::dict({{"count", tree_math::zero_count()}}); };
  t.update = [fn = std::move(step_size_fn)](const Tree& updates, const Tree& state, const Tree&) {
    const Array& count = state["count"].leaf();
    // optax: the schedule sees the count before this step, then the count is incremented.
    Array step_size = fn(count);
    Tree u =
        tree_map([&](const Array& g) { return mul(astype(step_size, g.dtype()), g); }, updates);
    return std::make_pair(std::move(u), Tree::dict({{"count", tree_math::safe_increment(count)}}));
  };
  return t;
}

GradientTransformation scale_by_learning_rate(ScalarOrSchedule learning_rate, bool flip_sign) {
  // optax: m = -1 if flip_sign else 1; a schedule becomes scale_by_schedule(m * lr(count)), a
  // constant scale(m * lr) (the product taken in Python, i.e. in double, then rounded to the update
  // dtype).
  int m = flip_sign ? -1 : 1;
  if (!learning_rate.is_set())
    throw ValueError(
        "optim: a learning_rate is required (optax's learning_rate has no default): "
        "adam({.learning_rate = 1e-3}) or adam(1e-3)");
  if (learning_rate.is_array()) {
    // inject_hyperparams' float32 scalar: optax's scale(m * lr), the product an array op.
    GradientTransformation t;
    t.init = empty_state;
    t.update = [step = mul(m, learning_rate.array())](const Tree& updates, const Tree& state,
                                                      const Tree&) {
      return std::make_pair(tree_map([&](const Array& g) { return mul(step, g); }, updates), state);
    };
    return t;
  }
  if (learning_rate.is_schedule()) {
    Schedule lr = learning_rate.schedule();
    return scale_by_schedule([lr, m](const Array& count) { return mul(m, lr(count)); });
  }
  return scale(m * learning_rate.value());
}

GradientTransformation trace(double decay, bool nesterov) {
  GradientTransformation t;
  t.init = [](const Tree& params) {
    return Tree::dict({{"trace", tree_math::tree_zeros_like(params)}});
  };
  t.update = [decay, nesterov](const Tree& updates, const Tree& state, const Tree&) {
    // optax: f = g + decay * t; new_trace = f(g, trace); updates = f(g, new_trace) if nesterov.
    auto f = [decay](const Array& g, const Array& tr) { return add(g, mul(decay, tr)); };
    Tree new_trace = tree_map(f, updates, state["trace"]);
    Tree u = nesterov ? tree_map(f, updates, new_trace) : new_trace;
    return std::make_pair(std::move(u), Tree::dict({{"trace", std::move(new_trace)}}));
  };
  return t;
}

GradientTransformation scale_by_rms(double decay, double eps, double initial_scale) {
  GradientTransformation t;
  t.init = [initial_scale](const Tree& params) {
    return Tree::dict({{"nu", tree_math::tree_full_like(params, initial_scale)}});
  };
  t.update = [decay, eps](const Tree& updates, const Tree& state, const Tree&) {
    // optax: nu = (1 - decay) * g**2 + decay * nu; updates = g * rsqrt(nu + eps).
    Tree nu = tree_map(
        [decay](const Array& g, const Array& n) {
          return add(mul(1.0 - decay, square(g)), mul(decay, n));
        },
        updates, state["nu"]);
    Tree u = tree_map([eps](const Array& g, const Array& n) { return mul(rsqrt(add(n, eps)), g); },
                      updates, nu);
    return std::make_pair(std::move(u), Tree::dict({{"nu", std::move(nu)}}));
  };
  return t;
}

namespace {

// Walks the mask (a prefix of `updates`, as optax.masked allows) and applies `decayed` to the
// leaves it marks. A concrete mask leaf is read now, so unmasked leaves cost nothing; a traced one
// (a mask function that computed its answer from tracers inside jit) selects with `where`, which
// gives the same values.
Tree apply_mask(const Tree& mask, const Tree& updates, const Tree& params,
                const std::function<Array(const Array&, const Array&)>& decayed,
                const std::string& path) {
  switch (mask.kind()) {
    case Tree::Kind::none:
      return updates;
    case Tree::Kind::leaf: {
      const Array& m = mask.leaf();
      if (m.size() != 1)
        throw ValueError(
            "add_decayed_weights: the mask at " + path + " has shape " + m.shape().str() +
            "; a mask leaf is one boolean saying whether to decay the parameters below it");
      if (!m.is_tracer()) return m.item<bool>() ? tree_map(decayed, updates, params) : updates;
      Array on = reshape(astype(m, bool_), {});
      return tree_map([&](const Array& u, const Array& p) { return where(on, decayed(u, p), u); },
                      updates, params);
    }
    case Tree::Kind::dict: {
      if (!updates.is_dict())
        throw ValueError("add_decayed_weights: the mask has a dict at " + path +
                         " where the updates do not");
      Tree::Dict d;
      for (const auto& [k, u] : updates.items()) {
        const Tree* sub = mask.contains(k) ? &mask[k] : nullptr;
        if (!sub)
          throw ValueError("add_decayed_weights: the mask has no entry '" + k + "' at " + path +
                           "; the mask must have the structure of the params (or a prefix of it)");
        d.emplace_back(k, apply_mask(*sub, u, params[k], decayed, path + "/" + k));
      }
      if (mask.size() != updates.size())
        throw ValueError("add_decayed_weights: the mask at " + path +
                         " has keys the params do not have");
      return Tree(std::move(d));
    }
    case Tree::Kind::list: {
      if (!updates.is_list() || updates.size() != mask.size())
        throw ValueError("add_decayed_weights: the mask's list at " + path +
                         " does not match the updates");
      Tree::List l;
      for (size_t i = 0; i < mask.size(); ++i)
        l.push_back(
            apply_mask(mask[i], updates[i], params[i], decayed, path + "/" + std::to_string(i)));
      return Tree::list(std::move(l));
    }
  }
  return updates;
}

}  // namespace

GradientTransformation add_decayed_weights(double weight_decay, std::optional<Mask> mask) {
  // optax: updates = g + weight_decay * p.
  auto decayed = [weight_decay](const Array& g, const Array& p) {
    return add(g, mul(weight_decay, p));
  };
  GradientTransformation t;
  if (!mask) {
    t.init = empty_state;
    t.update = [decayed](const Tree& updates, const Tree& state, const Tree& params) {
      tree_math::require_params(params, "add_decayed_weights");
      return std::make_pair(tree_map(decayed, updates, params), state);
    };
    return t;
  }
  // optax wraps the transformation in optax.masked, whose state is MaskedState(inner_state=...);
  // the inner (stateless) state is EmptyState, written {}.
  auto mask_fn = std::make_shared<const std::function<Tree(const Tree&)>>(std::move(*mask));
  t.init = [](const Tree&) { return Tree::dict({{"inner_state", Tree::dict()}}); };
  t.update = [decayed, mask_fn](const Tree& updates, const Tree& state, const Tree& params) {
    tree_math::require_params(params, "add_decayed_weights");
    // optax.masked calls a mask function on the updates in update() (on the params in init()); both
    // have the params' structure and shapes.
    Tree m = (*mask_fn)(updates);
    return std::make_pair(apply_mask(m, updates, params, decayed, "."),
                          Tree::dict({{"inner_state", state["inner_state"]}}));
  };
  return t;
}

GradientTransformation clip_by_global_norm(double max_norm) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [max_norm](const Tree& updates, const Tree& state, const Tree&) {
    // optax: trigger = g_norm < max_norm; select(trigger, t, (t / g_norm) * max_norm). The select
    // (not a min) keeps updates bit-identical when they are not clipped.
    Array g_norm = global_norm(updates);
    Array trigger = less(g_norm, max_norm);
    Tree u = tree_map(
        [&](const Array& x) {
          return where(trigger, x, mul(div(x, astype(g_norm, x.dtype())), max_norm));
        },
        updates);
    return std::make_pair(std::move(u), state);
  };
  return t;
}

GradientTransformation scale_by_trust_ratio(double min_norm, double trust_coefficient, double eps) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [=](const Tree& updates, const Tree& state, const Tree& params) {
    tree_math::require_params(params, "scale_by_trust_ratio");
    // optax: param_norm = safe_norm(p, min_norm); update_norm = safe_norm(u, min_norm);
    // ratio = trust_coefficient * param_norm / (update_norm + eps); 1 where either norm is 0.
    Tree u = tree_map(
        [&](const Array& update, const Array& param) {
          Array param_norm = tree_math::safe_norm(param, min_norm);
          Array update_norm = tree_math::safe_norm(update, min_norm);
          Array ratio = div(mul(trust_coefficient, param_norm), add(update_norm, eps));
          Array zero_norm = bitwise_or(equal(param_norm, 0.0), equal(update_norm, 0.0));
          Array safe_ratio = where(zero_norm, scalar(1.0, param.dtype()), ratio);
          return mul(update, safe_ratio);
        },
        updates, params);
    return std::make_pair(std::move(u), state);
  };
  return t;
}

GradientTransformation ema(double decay, bool debias, DType accumulator_dtype) {
  GradientTransformation t;
  t.init = [accumulator_dtype](const Tree& params) {
    return Tree::dict(
        {{"count", tree_math::zero_count()},
         {"ema",
          tree_map([&](const Array& p) { return zeros(p.shape(), accumulator_dtype); }, params)}});
  };
  t.update = [=](const Tree& updates, const Tree& state, const Tree&) {
    // optax: new_ema = update_moment(u, ema, decay, 1); count += 1; debias: bias_correction.
    Tree new_ema = tree_map(
        [decay](const Array& g, const Array& m) { return add(mul(1.0 - decay, g), mul(decay, m)); },
        updates, state["ema"]);
    Array count = tree_math::safe_increment(state["count"].leaf());
    Tree u = new_ema;
    if (debias) {
      Array c = tree_math::bias_correction(decay, count);
      u = tree_map([&](const Array& m) { return div(m, astype(c, m.dtype())); }, new_ema);
    }
    Tree kept = tree_map([&](const Array& m) { return astype(m, accumulator_dtype); }, new_ema);
    return std::make_pair(std::move(u),
                          Tree::dict({{"count", std::move(count)}, {"ema", std::move(kept)}}));
  };
  return t;
}

GradientTransformation clip(double max_delta) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [max_delta](const Tree& updates, const Tree& state, const Tree&) {
    // optax.tree.clip: jnp.clip(u, -max_delta, max_delta).
    return std::make_pair(
        tree_map([&](const Array& u) { return clip(u, -max_delta, max_delta); }, updates), state);
  };
  return t;
}

GradientTransformation clip_by_block_rms(double threshold) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [threshold](const Tree& updates, const Tree& state, const Tree&) {
    // optax: u / max(1, sqrt(mean(|u|²)) / threshold).
    Tree u = tree_map(
        [&](const Array& x) { return div(x, maximum(1.0, div(sqrt(mean(square(x))), threshold))); },
        updates);
    return std::make_pair(std::move(u), state);
  };
  return t;
}

GradientTransformation scale_by_param_block_rms(double min_scale) {
  GradientTransformation t;
  t.init = empty_state;
  t.update = [min_scale](const Tree& updates, const Tree& state, const Tree& params) {
    tree_math::require_params(params, "scale_by_param_block_rms");
    Tree u = tree_map(
        [&](const Array& x, const Array& p) {
          return mul(x, tree_math::safe_root_mean_squares(p, min_scale));
        },
        updates, params);
    return std::make_pair(std::move(u), state);
  };
  return t;
}

Tree apply_updates(const Tree& params, const Tree& updates) {
  // optax.apply_updates: jnp.asarray(p + u).astype(p.dtype).
  return tree_map([](const Array& p, const Array& u) { return astype(add(p, u), p.dtype()); },
                  params, updates);
}

Array global_norm(const Tree& t) {
  // optax.global_norm: jnp.sqrt(sum(jnp.sum(numerics.abs_sq(x)) for x in leaves)), leaves in JAX's
  // order (sorted dict keys). Python's sum starts from 0, which adds nothing.
  Array total;
  for (const Array& x : leaves(t)) {
    Array s = sum(square(x));
    total = total.empty() ? s : add(total, s);
  }
  if (total.empty()) return scalar(0.0, float32);
  return sqrt(total);
}

}  // namespace kiln::optim
