/* GELU float32, TFLite reference_ops::Gelu (see tq_float.h). */
#include "tq_float.h"

/* sqrt(2 / pi) and -1 / sqrt(2), the float32 constants of TFLite's GeluTransform(Approximate). */
#define TQ_GELU_SQRT_2_OVER_PI 0.797884583473205566f
#define TQ_GELU_MINUS_SQRT1_2 (-0.707106769084930420f)

tq_status tq_gelu_f32(const tq_gelu_f32_params *p, const float *in, float *out)
{
    for (int32_t i = 0; i < p->size; ++i) {
        const float x = in[i];
        if (p->approximate) {
            const float inner = TQ_GELU_SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
            out[i] = 0.5f * x * (1.0f + tanhf(inner));
        } else {
            out[i] = 0.5f * x * erfcf(x * TQ_GELU_MINUS_SQRT1_2);
        }
    }
    return TQ_OK;
}
