// The board's words, in Korean and in English. t() looks a word up in the
// language the board shows; a key without a word shows as itself.

export const I18N = {
  ko: {
    overview: "종합 현황", services: "매체별 현황", agents: "상담원별 현황", "agent-list": "상담원 목록",
    service: "서비스명", waiting: "대기 고객", longest: "최장 대기", inbound: "인입", answered: "응대",
    abandoned: "포기", answer_rate: "응대율", service_level: "서비스 레벨", login: "LOGIN",
    ready: "대기중", talking: "상담중", outbound: "O/B", break_work: "휴식/업무처리", total: "합계",
    agent: "상담원", state: "상태", reason: "사유", in_state: "경과", handled: "처리",
    st_logged_out: "로그아웃", st_ready: "수신대기", st_away: "자리비움", st_ringing: "벨울림중",
    st_talking: "통화중", st_dialing: "다이얼링중", st_outbound: "발신통화중", st_wrap_up: "후처리",
    lost: "연결 끊김: {since}부터, 다시 연결하는 중", recovering: "데이터 복구 중", stale: "데이터 지연: 원본 연결 끊김",
    thresholds: "기준", sl: "서비스 레벨", ar: "응대율", wait: "대기 고객", lw: "최장 대기",
    warn: "주의", alert: "경고", popout: "새 창", fullscreen: "전체 화면", lang: "English",
    pick: "테넌트를 고르세요", token: "토큰을 입력하세요", ok: "확인", none: "-",
    dashboard: "통합대시보드", ivr_inflow: "총인입", consult: "상담요청", callback_conv: "콜백전환",
    ivr_trend: "IVR 콜 인입 추이", today: "오늘", yesterday: "어제", agent_states: "상담사 상태",
    queue_info: "상담큐 정보", queue: "상담큐", cb_box: "콜백 처리 현황", requested: "요청", assigned: "할당",
    completed: "완료", open: "미완료", processing_rate: "처리율", open_by_agent: "상담원별 미완료", hour: "시",
    "agent-stats": "상담원 통계", missed: "미응답", aht: "평균처리시간", occupancy: "점유율",
    login_time: "로그인 시간", away_time: "자리비움 시간", no_reason: "사유 없음",
    reports: "통계", rep_from: "시작일", rep_to: "종료일", rep_step: "단위", rep_by: "구분", rep_csv: "CSV (시스템용)", rep_excel: "엑셀용 CSV 다운로드",
    rep_no_history: "이 서버는 통계를 보관하지 않습니다", rep_bad: "조회 조건을 확인하세요", rep_busy: "통계 요청이 많습니다. 잠시 후 다시 시도하세요", rep_failed: "통계를 불러오지 못했습니다",
    rep_period: "기간", rep_loading: "불러오는 중…", rep_empty: "이 기간의 통계가 없습니다",
    step_interval: "구간별", step_hour: "시간별", step_day: "일별", step_month: "월별",
    by_tenant: "전체", by_service: "서비스별", by_queue: "상담큐별", by_agent: "상담원별", by_callback: "콜백 처리현황",
    callbacks: "콜백", failed: "실패", deleted: "삭제", asa: "평균 대기",
    recent_min: "최근 {n}분", ewt: "예상 대기시간", ewt_error: "예측 오차(평균/90%)", staffing: "필요 상담원",
    required: "필요", available: "가용", gap: "부족", h_m: "{h}시간 {m}분", m_only: "{m}분",
    per_service_note: "여러 서비스에 속한 상담원은 서비스마다 셉니다. 합계는 상담원마다 한 번입니다.",
    so_far: "현재 시간대 (진행 중)", more_queues: "외 {n}개 상담큐 (확인할 것부터 표시)", more_queue: "외 1개 상담큐 (확인할 것부터 표시)", cb_rate: "처리율", so_far_short: "진행 중",
    "waiting-calls": "대기 고객 목록", waited: "대기 시간", position: "대기 순번", ewt_at_queue: "예상 대기시간 (대기 시작 때)",
    open_callbacks: "미완료 콜백", unassigned: "미할당", more_calls: "외 {n}건 (오래 기다린 순)", no_waiting: "대기 고객이 없습니다",
    since: "{t}부터", target: "목표", yesterday_now: "어제 이 시각",
    unknown_tenant: "'{t}' 테넌트의 데이터가 없습니다. 이름을 확인하세요 (첫 이벤트가 오면 바로 표시됩니다).",
  },
  en: {
    overview: "Overview", services: "Services", agents: "Agent board", "agent-list": "Agents",
    service: "Service", waiting: "Waiting", longest: "Longest wait", inbound: "Inbound", answered: "Answered",
    abandoned: "Abandoned", answer_rate: "Answer rate", service_level: "Service level", login: "LOGIN",
    ready: "Ready", talking: "Talking", outbound: "O/B", break_work: "Break/Work", total: "Total",
    agent: "Agent", state: "State", reason: "Reason", in_state: "In state", handled: "Handled",
    st_logged_out: "Logged out", st_ready: "Ready", st_away: "Away", st_ringing: "Ringing",
    st_talking: "On a call", st_dialing: "Dialing", st_outbound: "Outbound call", st_wrap_up: "Wrap-up",
    lost: "Connection lost since {since}; reconnecting", recovering: "Recovering data", stale: "Data delayed: source disconnected",
    thresholds: "Thresholds", sl: "SL", ar: "Answer rate", wait: "Waiting", lw: "Longest wait",
    warn: "amber", alert: "red", popout: "Pop out", fullscreen: "Full screen", lang: "한국어",
    pick: "Choose a tenant", token: "Enter your access token", ok: "OK", none: "-",
    dashboard: "Dashboard", ivr_inflow: "IVR inflow", consult: "Queued", callback_conv: "Callback conversions",
    ivr_trend: "IVR inflow per hour", today: "Today", yesterday: "Yesterday", agent_states: "Agent states",
    queue_info: "Queues", queue: "Queue", cb_box: "Callbacks", requested: "Requested", assigned: "Assigned",
    completed: "Completed", open: "Open", processing_rate: "Processing rate", open_by_agent: "Open per agent", hour: "h",
    "agent-stats": "Agent statistics", missed: "Missed", aht: "AHT", occupancy: "Occupancy",
    login_time: "Login time", away_time: "Away time", no_reason: "no reason",
    reports: "Reports", rep_from: "From", rep_to: "To", rep_step: "Step", rep_by: "By", rep_csv: "CSV (for machines)", rep_excel: "Download CSV for Excel",
    rep_no_history: "This server keeps no history", rep_bad: "Check the report's settings", rep_busy: "Too many reports at once: try again in a few seconds", rep_failed: "The report could not be loaded",
    rep_period: "Period", rep_loading: "Loading…", rep_empty: "No history for this period",
    step_interval: "Interval", step_hour: "Hourly", step_day: "Daily", step_month: "Monthly",
    by_tenant: "Tenant", by_service: "Service", by_queue: "Queue", by_agent: "Agent", by_callback: "Callback status",
    callbacks: "Callbacks", failed: "Failed", deleted: "Deleted", asa: "ASA",
    recent_min: "Last {n} min", ewt: "Est. wait", ewt_error: "Est. error (mean/p90)", staffing: "Agents needed",
    required: "Required", available: "Available", gap: "Short", h_m: "{h} h {m} min", m_only: "{m} min",
    per_service_note: "An agent in several services counts in each; the total counts each agent once.",
    so_far: "This hour so far", more_queues: "{n} more queues (those needing a look are shown first)", more_queue: "1 more queue (those needing a look are shown first)", cb_rate: "Processed", so_far_short: "so far",
    "waiting-calls": "Waiting calls", waited: "Waited", position: "Position", ewt_at_queue: "Est. wait (when queued)",
    open_callbacks: "Open callbacks", unassigned: "Not assigned", more_calls: "{n} more (longest waits first)", no_waiting: "No customer is waiting",
    since: "since {t}", target: "target", yesterday_now: "yesterday by now",
    unknown_tenant: "No data for tenant '{t}'. Check its name (the board appears as soon as its first event arrives).",
  },
};

// The language is state.lang, kept in app.js; it hands over a getter so
// that there is one place the language is kept, whoever changes it.
let lang = () => "en";
export function bindLang(get) {
  lang = get;
}

export const t = (k) => I18N[lang()][k] ?? k;
// An away reason as the tenant labels it in the board's language (the
// snapshot's reason_labels, from the config), else as sent.
export const reasonLabel = (snap, r) => (snap?.reason_labels?.[lang()] || {})[r] || r;
export const locale = () => (lang() === "ko" ? "ko-KR" : "en-GB");
