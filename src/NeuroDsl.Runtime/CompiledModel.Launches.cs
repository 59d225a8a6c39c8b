namespace NeuroDsl.Runtime;

/// <summary>The launches the generated Forward and Backward make, each in the shape its kernel was built for.</summary>
public abstract partial class CompiledModel
{
    /// <summary>Which of <see cref="Kernel"/>'s launch methods a launch takes, with <see cref="Work"/>'s values.</summary>
    private enum WorkKind
    {
        /// <summary><see cref="Kernel.Launch(long, long)"/>(A, B): a range whose work-groups the driver picks.</summary>
        Range,

        /// <summary><see cref="Kernel.Launch(long, long, long)"/>(A, B, C).</summary>
        Range3,

        /// <summary><see cref="Kernel.LaunchLocal(long, long)"/>(A, B): the kernel's GEMM work-groups.</summary>
        Tiles,

        /// <summary><see cref="Kernel.LaunchLocal(long, long, long)"/>(A, B, C).</summary>
        Tiles3,

        /// <summary><see cref="Kernel.LaunchGroups(long, int)"/>(A, B): A work-groups of B work-items.</summary>
        Groups,

        /// <summary><see cref="Kernel.LaunchGroups(long, int, long, long)"/>(A, B, C, D).</summary>
        GroupsBy,
    }

    /// <summary>
    /// A launch's work-items as a value, so that <see cref="Run"/> enqueues, times, counts and checks every kind of
    /// launch without a closure: a lambda capturing the sizes allocated on every launch (40 bytes each, 664 bytes a step
    /// of the MLP), the profiler off or on.
    /// </summary>
    private readonly record struct Work(WorkKind Kind, long A, long B = 0, long C = 0, long D = 0)
    {
        public void Enqueue(Kernel kernel)
        {
            switch (Kind)
            {
                case WorkKind.Range: kernel.Launch(A, B); break;
                case WorkKind.Range3: kernel.Launch(A, B, C); break;
                case WorkKind.Tiles: kernel.LaunchLocal(A, B); break;
                case WorkKind.Tiles3: kernel.LaunchLocal(A, B, C); break;
                case WorkKind.Groups: kernel.LaunchGroups(A, (int)B); break;
                default: kernel.LaunchGroups(A, (int)B, C, D); break;
            }
        }
    }

    /// <summary>
    /// Runs one launch as every launch runs: skipped while a trace records it, checked after it with check numerics,
    /// timed with the profiler, counted, and announced to <see cref="Launched"/>.
    /// </summary>
    private void Run(Kernel kernel, Work work)
    {
        if (Traced(kernel)) return;
        if (CheckNumerics) BeforeLaunch(kernel);
        if (Profiler.Enabled) Profiled(kernel, work);
        else work.Enqueue(kernel);
        LaunchCount++;
        if (CheckNumerics) AfterLaunch(kernel);
        Launched?.Invoke();
    }

    /// <summary>The profiler's timing of a launch (its closure allocated here, only while profiling).</summary>
    private void Profiled(Kernel kernel, Work work) => Profiler.Time(Device, kernel.Name, () => work.Enqueue(kernel));

    protected void Launch(Kernel kernel, long global0, long global1 = 0) =>
        Run(kernel, new Work(WorkKind.Range, global0, global1));

    /// <summary>A 3-D launch: a batch of 2-D ranges (the batched matrix products).</summary>
    protected void Launch(Kernel kernel, long global0, long global1, long global2) =>
        Run(kernel, new Work(WorkKind.Range3, global0, global1, global2));

    /// <summary>
    /// A 2-D launch in work-groups of the kernel's shape: one work-item (the register-tiled kernels), or the GPU GEMM's
    /// 2-D group.
    /// </summary>
    protected void LaunchTiles(Kernel kernel, long tiles0, long tiles1) =>
        Run(kernel, new Work(WorkKind.Tiles, tiles0, tiles1));

    /// <summary>A batch of 2-D tiled launches in one 3-D launch (the batched tiled GEMM, in the kernel's work-groups).</summary>
    protected void LaunchTiles(Kernel kernel, long tiles0, long tiles1, long tiles2) =>
        Run(kernel, new Work(WorkKind.Tiles3, tiles0, tiles1, tiles2));

    /// <summary>
    /// An elementwise kernel over <paramref name="elements"/> values whose work-items take <see cref="Device.ElementLanes"/>
    /// consecutive values each (the generated code's ND_LANES; the compiler only makes such kernels where it divides
    /// the innermost axis).
    /// </summary>
    protected void LaunchLanes(Kernel kernel, long elements) => Launch(kernel, elements / _elementLanes);

    /// <summary>
    /// A tiled GEMM's launch over C[m, n] (a batch of them): the kernel's tile (<see cref="Kernel.Tile"/>, the device's
    /// GEMM shape) sets how many work-groups run.
    /// </summary>
    protected void LaunchGemm(Kernel kernel, long m, long n, long batch = 0)
    {
        var (rows, columns) = kernel.Tile;
        if (batch > 0) LaunchTiles(kernel, (m + rows - 1) / rows, (n + columns - 1) / columns, batch);
        else LaunchTiles(kernel, (m + rows - 1) / rows, (n + columns - 1) / columns);
    }

    /// <summary>
    /// A row kernel: one work-group of <see cref="Device.RowLanes"/> (as the program was built) work-items per row;
    /// with one lane, a plain range of rows whose work-groups the driver picks.
    /// </summary>
    protected void LaunchRows(Kernel kernel, long rows) =>
        Run(kernel, _rowLanes == 1 ? new Work(WorkKind.Range, rows) : new Work(WorkKind.Groups, rows, _rowLanes));

    /// <summary>
    /// A GPU form's launch: <paramref name="total"/> work-items (one an output element) rounded up to whole work-groups
    /// of the device's GPU group, as the model was built; the form returns past its total. A driver left to pick the
    /// size may take a small divisor of an awkward total.
    /// </summary>
    protected void LaunchGpu(Kernel kernel, long total) =>
        Run(kernel, new Work(WorkKind.Groups, (total + _gpuGroup - 1) / _gpuGroup, _gpuGroup));

    /// <summary>
    /// A GPU form with work-groups of its own size: <paramref name="groups0"/> of <paramref name="workItems"/> work-items
    /// along dimension 0 (what its reqd_work_group_size asks), by <paramref name="global1"/> (× <paramref name="global2"/>).
    /// </summary>
    protected void LaunchGroups(Kernel kernel, int workItems, long groups0, long global1, long global2 = 0) =>
        Run(kernel, new Work(WorkKind.GroupsBy, groups0, workItems, global1, global2));
}
