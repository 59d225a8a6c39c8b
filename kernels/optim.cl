// Optimizers over the whole parameter arena in one launch: parameters, gradients and state are laid
// out alike, so element i of each belongs to the same weight. Padding between parameters has zero
// gradient and zero value, and stays zero under both rules (weight decay of 0 is 0).

// SGD with momentum and L2 weight decay, as torch.optim.SGD (dampening 0):
//   d = g + wd·p;  v = μ·v + d;  d = nesterov ? d + μ·v : v;  p -= lr·d
__kernel void nd_sgd_f32(__global float* restrict p, __global const float* restrict g,
                         __global float* restrict v, const float lr, const float momentum,
                         const float weight_decay, const int nesterov)
{
    const int i = get_global_id(0);
    float d = g[i] + weight_decay * p[i];
    if (momentum != 0.0f)
    {
        const float b = momentum * v[i] + d;
        v[i] = b;
        d = nesterov ? d + momentum * b : b;
    }
    p[i] -= lr * d;
}

// Adam (Kingma & Ba 2015) as torch.optim.Adam with L2 weight decay; bc1 = 1 - β1^t, bc2 = 1 - β2^t:
//   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  p -= lr · (m / bc1) / (sqrt(v / bc2) + ε)
__kernel void nd_adam_f32(__global float* restrict p, __global const float* restrict g,
                          __global float* restrict m, __global float* restrict v,
                          const float lr, const float beta1, const float beta2, const float eps,
                          const float bc1, const float bc2, const float weight_decay)
{
    const int i = get_global_id(0);
    const float grad = g[i] + weight_decay * p[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * grad;
    const float vi = beta2 * v[i] + (1.0f - beta2) * grad * grad;
    m[i] = mi;
    v[i] = vi;
    p[i] -= lr * (mi / bc1) / (sqrt(vi / bc2) + eps);
}
