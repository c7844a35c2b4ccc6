# dcv-widget idle check (docs/ec2-idle-policy.md).
# Exits at once when someone is connected to a NICE DCV session on this instance; otherwise asks
# DCV again every checkSeconds, and when nobody connected during the whole idle time, shuts
# Windows down: the instance's EC2 attribute InstanceInitiatedShutdownBehavior (set by
# dcv_widget) then stops or terminates it.
# Anything uncertain (no dcv.exe, dcv failing) ends the check without a shutdown.
$ErrorActionPreference = 'Stop'
$idleMinutes = [int]'{{ idleMinutes }}'
$idleSeconds = '{{ idleSeconds }}'
$checkSeconds = [int]'{{ checkSeconds }}'
if ($idleSeconds) { $idleSeconds = [int]$idleSeconds } else { $idleSeconds = $idleMinutes * 60 }

$dcv = Join-Path $env:ProgramFiles 'NICE\DCV\Server\bin\dcv.exe'
if (-not (Test-Path $dcv)) {
    $found = Get-Command dcv -ErrorAction SilentlyContinue
    if (-not $found) { Write-Output 'no dcv command here: not a DCV server, nothing to do'; exit 1 }
    $dcv = $found.Source
}

# One check at a time on this instance: the window may start a check while another one waits.
$lock = New-Object System.Threading.Mutex($false, 'Global\dcv-widget-idle')
try { $mine = $lock.WaitOne(0) } catch [System.Threading.AbandonedMutexException] { $mine = $true }
if (-not $mine) { Write-Output 'another idle check is already waiting on this instance'; exit 0 }

# How many DCV sessions have someone connected; -1 when DCV cannot be asked.
function Get-BusySessions {
    $sessions = (& $dcv list-sessions -j) | Out-String
    if ($LASTEXITCODE -ne 0) { return -1 }
    $busy = 0
    foreach ($session in (ConvertFrom-Json $sessions)) {
        $listed = (& $dcv list-connections -j $session.id) | Out-String
        if ($LASTEXITCODE -ne 0) { return -1 }
        if ($listed.Contains('{')) { $busy += 1 }
    }
    return $busy
}

$busy = Get-BusySessions
if ($busy -lt 0) { Write-Output 'could not ask DCV for its connections: no shutdown'; exit 1 }
if ($busy -gt 0) { Write-Output "$busy DCV session(s) in use: not idle"; exit 0 }
$clock = [System.Diagnostics.Stopwatch]::StartNew()
while ($clock.Elapsed.TotalSeconds -lt $idleSeconds) {
    $left = [Math]::Ceiling($idleSeconds - $clock.Elapsed.TotalSeconds)
    Start-Sleep -Seconds ([Math]::Max(1, [Math]::Min($checkSeconds, $left)))
    $busy = Get-BusySessions
    if ($busy -lt 0) { Write-Output 'could not ask DCV for its connections: no shutdown'; exit 1 }
    if ($busy -gt 0) { Write-Output 'someone connected to DCV while waiting: not idle'; exit 0 }
}
Write-Output "nobody connected to DCV for $idleSeconds seconds: shutting down in a minute"
& shutdown.exe /s /t 60 /d p:0:0 /c 'dcv-widget: DCV idle, shutting down'
if ($LASTEXITCODE -ne 0) { Stop-Computer -Force }
