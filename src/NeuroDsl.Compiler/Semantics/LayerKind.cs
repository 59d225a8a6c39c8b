namespace NeuroDsl.Compiler.Semantics;

/// <summary>What kind of layer a surface op makes: the architecture diagram colours its boxes by it.</summary>
public enum LayerKind
{
    /// <summary>Anything else (activations, arithmetic, reshapes).</summary>
    Other,

    /// <summary>A layer of weights that multiply: convolutions, dense layers.</summary>
    Weighted,

    /// <summary>Pooling and subsampling.</summary>
    Pooling,

    /// <summary>Normalization and regularization layers (batch norm, dropout).</summary>
    Normalization,
}
